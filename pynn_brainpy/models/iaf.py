"""NEST's leaky integrate-and-fire family, one model per module (this module only gathers them).

=======================  ==============================  ================================
model                    synapse                         integration
=======================  ==============================  ================================
``iaf_psc_alpha``        alpha current (pA)              exact (propagators, host float64)
``iaf_psc_exp``          exponential current (pA)        exact
``iaf_psc_exp_ps``       exponential current (pA)        exact, spike times off the grid
``iaf_psc_delta``        voltage jump (mV)               exact
``iaf_psc_delta_ps``     voltage jump (mV)               exact, spike times off the grid
``iaf_cond_alpha``       alpha conductance (nS)          GSL RKF45 (NEST's control)
``iaf_cond_exp``         exponential conductance (nS)    GSL RKF45
``iaf_cond_exp_sfa_rr``  exp. conductance + sfa + rr     GSL RKF45
=======================  ==============================  ================================
"""

from .iaf_cond_alpha import iaf_cond_alpha
from .iaf_cond_exp import iaf_cond_exp
from .iaf_cond_exp_sfa_rr import iaf_cond_exp_sfa_rr
from .iaf_psc_alpha import iaf_psc_alpha
from .iaf_psc_delta import iaf_psc_delta
from .iaf_psc_delta_ps import iaf_psc_delta_ps
from .iaf_psc_exp import iaf_psc_exp
from .iaf_psc_exp_ps import iaf_psc_exp_ps

__all__ = ["iaf_psc_alpha", "iaf_psc_exp", "iaf_psc_exp_ps", "iaf_psc_delta", "iaf_psc_delta_ps",
           "iaf_cond_alpha", "iaf_cond_exp", "iaf_cond_exp_sfa_rr", "IAF_MODELS"]

#: NEST model name -> model class, for the models on the time grid.
IAF_MODELS = {cls.NEST_NAME: cls for cls in (iaf_psc_alpha, iaf_psc_exp, iaf_psc_delta,
                                             iaf_cond_alpha, iaf_cond_exp, iaf_cond_exp_sfa_rr)}
