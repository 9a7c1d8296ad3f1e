"""brainstate models usable without PyNN, one NEST model per module; synapse dynamics in
:mod:`.synapses`."""

from .aeif_cond import aeif_cond_alpha, aeif_cond_exp
from .gif_cond_exp import gif_cond_exp
from .glif_cond import glif_cond
from .hh_cond_exp_traub import hh_cond_exp_traub
from .iaf import (iaf_cond_alpha, iaf_cond_exp, iaf_cond_exp_sfa_rr, iaf_psc_alpha,
                  iaf_psc_delta, iaf_psc_delta_ps, iaf_psc_exp, iaf_psc_exp_ps)
from .izhikevich import izhikevich
from .point_neuron import (aeif_cond_alpha_multisynapse, aeif_cond_beta_multisynapse,
                           iaf_psc_exp_multisynapse)

__all__ = ["aeif_cond_alpha", "aeif_cond_alpha_multisynapse", "aeif_cond_beta_multisynapse",
           "aeif_cond_exp", "gif_cond_exp", "glif_cond", "hh_cond_exp_traub", "iaf_cond_alpha",
           "iaf_cond_exp", "iaf_cond_exp_sfa_rr", "iaf_psc_alpha", "iaf_psc_delta",
           "iaf_psc_delta_ps",
           "iaf_psc_exp", "iaf_psc_exp_ps", "iaf_psc_exp_multisynapse", "izhikevich"]
