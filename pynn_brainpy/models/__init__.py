"""brainstate models usable without PyNN (one model per module)."""

from .aeif_cond import aeif_cond_alpha, aeif_cond_exp
from .gif_cond_exp import gif_cond_exp
from .glif_cond import glif_cond
from .hh_cond_exp_traub import hh_cond_exp_traub
from .iaf import (iaf_cond_alpha, iaf_cond_exp, iaf_cond_exp_sfa_rr, iaf_psc_alpha,  # noqa: F401
                  iaf_psc_delta, iaf_psc_exp)
from .izhikevich import izhikevich

__all__ = ["aeif_cond_alpha", "aeif_cond_exp", "gif_cond_exp", "glif_cond",
           "hh_cond_exp_traub", "izhikevich"]
