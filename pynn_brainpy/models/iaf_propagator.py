r"""NEST's exact-integration propagators for LIF neurons with exponential or alpha currents.

For ``dV/dt = −V/τ_m + I/C_m`` driven by a synaptic current ``I`` that decays with ``τ_s``
(exponential: ``I' = −I/τ_s``; alpha: ``dI' = −dI/τ_s``, ``I' = dI − I/τ_s``), one step of
length ``h`` maps ``(dI, I, V)`` linearly. With ``β = τ_s τ_m/(τ_m − τ_s)`` and ``γ = β/C_m``
the entries that connect the current to ``V`` are

.. math::

    P_{VI} = γ\, e^{−h/τ_s}\, \mathrm{expm1}(h/β), \qquad
    P_{V\,dI} = γ\, e^{−h/τ_s} (β\, \mathrm{expm1}(h/β) − h)

which lose digits as ``τ_s → τ_m``; there the limits ``P_VI = h e^{−h/τ_m}/C_m`` and
``P_VdI = h² e^{−h/τ_m}/(2 C_m)`` are used. The switch is NEST 3.10's (``IAFPropagator``,
libnestutil/iaf_propagator.cpp; checked against NEST live down to ``|τ_m − τ_s| = 1e-12``):
``P_VI`` is the regular expression when that is a normal, positive number (it is NaN for
``τ_m == τ_s``), the limit otherwise; ``P_VdI`` is regular when
``h > 1e-7·τ_m²/|τ_m − τ_s|``, the limit otherwise.

Everything is evaluated in float64 on the host with the C library's ``exp``/``expm1`` (as
NEST's ``std::exp``), once per distinct parameter combination.
"""

import math

import numpy as np

__all__ = ["propagator_exp", "propagator_alpha"]

#: NEST's IAFPropagator::NUMERICAL_STABILITY_FACTOR_: P_VdI is regular if
#: h > factor·τ_m²/|τ_m − τ_s|.
_STABILITY_FACTOR = 1e-7


def _one(tau_syn: float, tau_m: float, c_m: float, h: float):
    """(P_VdI, P_VI) for one parameter combination, in NEST's arithmetic order."""
    tau_syn, tau_m, c_m, h = (np.float64(x) for x in (tau_syn, tau_m, c_m, h))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        h_min_regular = _STABILITY_FACTOR * tau_m * tau_m / abs(tau_m - tau_syn)
        beta = tau_syn * tau_m / (tau_m - tau_syn)      # inf when tau_m == tau_syn
        gamma = beta / c_m
        inv_tau_syn = np.float64(1.0) / tau_syn
        inv_tau_m = np.float64(1.0) / tau_m
        inv_c_m = np.float64(1.0) / c_m
        inv_beta = (tau_m - tau_syn) / (tau_syn * tau_m)
        exp_h_tau_syn = np.float64(math.exp(float(-h * inv_tau_syn)))
        expm1_h_tau = np.float64(math.expm1(float(h * inv_beta)))
        exp_h_tau = np.float64(math.exp(float(-h * inv_tau_m)))
        P32 = gamma * exp_h_tau_syn * expm1_h_tau
        if not (np.isfinite(P32) and abs(P32) >= np.finfo(np.float64).tiny and P32 > 0):
            P32 = h * inv_c_m * exp_h_tau                 # singular limit
        if h > h_min_regular:
            P31 = gamma * exp_h_tau_syn * (beta * expm1_h_tau - h)
        else:
            P31 = np.float64(0.5) * h * h * inv_c_m * exp_h_tau
    return float(P31), float(P32)


def _table(tau_syn, tau_m, c_m, h):
    tau_syn, tau_m, c_m = np.broadcast_arrays(*(np.asarray(x, np.float64)
                                                for x in (tau_syn, tau_m, c_m)))
    keys = np.stack([tau_syn.ravel(), tau_m.ravel(), c_m.ravel()], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    vals = np.array([_one(a, b, c, h) for a, b, c in uniq], np.float64).reshape(-1, 2)
    inverse = inverse.reshape(-1)
    return (vals[inverse, 0].reshape(tau_syn.shape), vals[inverse, 1].reshape(tau_syn.shape))


def propagator_exp(tau_syn, tau_m, c_m, h: float) -> np.ndarray:
    """NEST's ``IAFPropagatorExp(tau_syn, tau_m, c_m).evaluate(h)`` (``P_VI``), elementwise."""
    return _table(tau_syn, tau_m, c_m, h)[1]


def propagator_alpha(tau_syn, tau_m, c_m, h: float):
    """NEST's ``IAFPropagatorAlpha(...).evaluate(h)``: ``(P_VdI, P_VI)``, elementwise."""
    return _table(tau_syn, tau_m, c_m, h)
