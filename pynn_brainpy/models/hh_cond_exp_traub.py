r"""NEST's ``hh_cond_exp_traub``: the Hodgkin-Huxley neuron of Traub & Miles (1991), as
modified by Brette et al. (2007), with exponentially decaying conductances.

.. math::

    C_m \frac{dV}{dt} = -g_{Na} m^3 h (V - E_{Na}) - g_K n^4 (V - E_K) - g_L (V - E_L)
                        - g_{ex}(V - E_{ex}) - g_{in}(V - E_{in}) + I + I_e

    \frac{dx}{dt} = α_x(U) - (α_x(U) + β_x(U))\,x \quad (x = m, h, n), \qquad U = V - V_T

    α_n = \frac{0.032(15 - U)}{e^{(15-U)/5} - 1},\;
    β_n = 0.5 e^{(10-U)/40},\;
    α_m = \frac{0.32(13 - U)}{e^{(13-U)/4} - 1},\;
    β_m = \frac{0.28(U - 40)}{e^{(U-40)/5} - 1},\;
    α_h = 0.128 e^{(17-U)/18},\;
    β_h = \frac{4}{1 + e^{(40-U)/5}}

    \frac{dg_k}{dt} = -g_k/τ_k

The state ``(V, m, h, n, g_ex, g_in)`` is integrated with GSL's RKF45 and the standard control
``gsl_odeiv_control_y_new(1e-3, 0)`` (:func:`pynn_brainpy.engine.rkf45.advance`), the sub-step
size carried from step to step (initially ``dt``).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``):

1. ``V_old ← V``; integrate over ``h`` with ``I`` held constant (no clamping: the spike is
   part of the dynamics).
2. Spikes delivered in this step: ``g_k ← g_k + W_k`` (nS).
3. If refractory (``r > 0``): ``r ← r − 1``. Otherwise a spike (time ``(m+1)·h``) when
   ``V ≥ V_T + 30`` and ``V_old > V`` (threshold reached and past the maximum); then
   ``r ← n_ref`` (``t_ref`` in steps, NEST's tic rounding). Nothing is reset.
4. ``I ← x`` (the current given to this step drives the next one).

Mirrors NEST's ``hh_cond_exp_traub``. Departures: NEST sorts incoming spikes by the sign of
the weight (negative: inhibitory, as ``|w|``); here the port is the input label
(``receptor_0`` excitatory, ``receptor_1`` inhibitory). A neuron needing more than 10 000
RKF45 trials in one step gets ``V = NaN`` (reported by :meth:`check_finite`).
"""

import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine import rkf45
from ._base import refractory_counts
from .aeif_cond import ScalarModel

__all__ = ["hh_cond_exp_traub", "equilibrium_gates"]


def _rates(U, exp=jnp.exp):
    """(α_n, β_n, α_m, β_m, α_h, β_h) at ``U = V − V_T`` in NEST's arithmetic order."""
    alpha_n = 0.032 * (15.0 - U) / (exp((15.0 - U) / 5.0) - 1.0)
    beta_n = 0.5 * exp((10.0 - U) / 40.0)
    alpha_m = 0.32 * (13.0 - U) / (exp((13.0 - U) / 4.0) - 1.0)
    beta_m = 0.28 * (U - 40.0) / (exp((U - 40.0) / 5.0) - 1.0)
    alpha_h = 0.128 * exp((17.0 - U) / 18.0)
    beta_h = 4.0 / (1.0 + exp((40.0 - U) / 5.0))
    return alpha_n, beta_n, alpha_m, beta_m, alpha_h, beta_h


def equilibrium_gates(V):
    """NEST's initial ``(m, h, n)`` for a membrane potential ``V`` (evaluated at ``V``, not
    ``V − V_T``, exactly as NEST's state constructor does)."""
    an, bn, am, bm, ah, bh = _rates(np.asarray(V, float), np.exp)
    return am / (am + bm), ah / (ah + bh), an / (an + bn)


class hh_cond_exp_traub(ScalarModel):
    r"""Traub-Miles Hodgkin-Huxley neuron (NEST ``hh_cond_exp_traub``); see the module
    docstring.

    Parameters (NEST's names, units, defaults): ``g_Na`` nS 20000, ``g_K`` nS 6000, ``g_L`` nS
    10, ``C_m`` pF 200, ``E_Na`` mV 50, ``E_K`` mV −90, ``E_L`` mV −60, ``V_T`` mV −63,
    ``E_ex`` mV 0, ``E_in`` mV −80, ``tau_syn_ex`` ms 5, ``tau_syn_in`` ms 10, ``t_ref`` ms 2,
    ``I_e`` pA 0.

    Initial state: ``V_m = E_L`` and the gates at their equilibrium (as NEST), conductances 0;
    set with ``set_state_value`` (``V_m``, ``Act_m``, ``Inact_h``, ``Act_n``, ``g_ex``,
    ``g_in``). Inputs: ``add_delta_input(key, w_nS, label='receptor_0'|'receptor_1')``;
    ``update(x)`` with ``x`` in pA. Recordables: ``V_m``, ``g_ex``, ``g_in``, ``Act_m``,
    ``Inact_h``, ``Act_n``, ``I``.
    """

    nest_name = "hh_cond_exp_traub"
    defaults = {"g_Na": 20000.0, "g_K": 6000.0, "g_L": 10.0, "C_m": 200.0, "E_Na": 50.0,
                "E_K": -90.0, "E_L": -60.0, "V_T": -63.0, "E_ex": 0.0, "E_in": -80.0,
                "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "t_ref": 2.0, "I_e": 0.0}
    param_units = {"g_Na": u.nS, "g_K": u.nS, "g_L": u.nS, "C_m": u.pF, "E_Na": u.mV,
                   "E_K": u.mV, "E_L": u.mV, "V_T": u.mV, "E_ex": u.mV, "E_in": u.mV,
                   "tau_syn_ex": u.ms, "tau_syn_in": u.ms, "t_ref": u.ms, "I_e": u.pA}
    recordables = {"V_m": "V", "g_ex": "g_ex", "g_in": "g_in", "Act_m": "m", "Inact_h": "h",
                   "Act_n": "n"}
    settable = tuple(recordables)
    _EPS_ABS = 1e-3

    @classmethod
    def check(cls, p):
        m = cls.nest_name
        bad = ~(p["C_m"] > 0)
        if bad.any():
            cls._fail(m, "C_m", "Capacitance must be strictly positive.", p["C_m"][bad])
        for name in ("tau_syn_ex", "tau_syn_in"):
            bad = ~(p[name] > 0)
            if bad.any():
                cls._fail(m, name, "All time constants must be strictly positive.",
                          p[name][bad])
        bad = p["t_ref"] < 0
        if bad.any():
            cls._fail(m, "t_ref", "Refractory time cannot be negative.", p["t_ref"][bad])

    def set_state_value(self, name, value):
        if name in ("Act_m", "Inact_h", "Act_n") and np.any(np.asarray(value, float) < 0):
            raise ValueError(f"{self.nest_name}: {name}: All (in)activation variables must be "
                             "non-negative.")
        if name in ("g_ex", "g_in") and np.any(np.asarray(value, float) < 0):
            raise ValueError(f"{self.nest_name}: {name}: Conductances must not be negative.")
        super().set_state_value(name, value)

    def constants(self, p, dt):
        c = {k: p[k] for k in self.defaults if k != "t_ref"}
        c["ref_count"] = refractory_counts(p["t_ref"], dt)
        return c

    def _make_state(self, c, shape, dtype):
        E_L = np.broadcast_to(c["E_L"], (int(np.prod(shape)),))
        m, h, n = equilibrium_gates(E_L)
        z = jnp.zeros(shape, dtype)
        arr = lambda v: jnp.asarray(np.reshape(v, shape), dtype)
        return {"V": arr(E_L), "m": arr(m), "h": arr(h), "n": arr(n), "g_ex": z, "g_in": z,
                "r": jnp.zeros(shape, jnp.int32), "H": jnp.full(shape, self.dt, dtype)}

    @staticmethod
    def _rhs(c, I_stim):
        def rhs(y):
            V, m, h, n, g_ex, g_in = y
            I_Na = c["g_Na"] * m * m * m * h * (V - c["E_Na"])
            I_K = c["g_K"] * n * n * n * n * (V - c["E_K"])
            I_L = c["g_L"] * (V - c["E_L"])
            I_syn_exc = g_ex * (V - c["E_ex"])
            I_syn_inh = g_in * (V - c["E_in"])
            dV = ((((((-I_Na) - I_K) - I_L) - I_syn_exc) - I_syn_inh) + I_stim
                  + c["I_e"]) / c["C_m"]
            an, bn, am, bm, ah, bh = _rates(V - c["V_T"])
            return (dV, am - (am + bm) * m, ah - (ah + bh) * h, an - (an + bn) * n,
                    -g_ex / c["tau_syn_ex"], -g_in / c["tau_syn_in"])
        return rhs

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        n, c, dtype = self._begin_update()
        names = ("V", "m", "h", "n", "g_ex", "g_in")
        y0 = tuple(self.state[k].value.reshape(n) for k in names)
        V_old = y0[0]
        y, H, stalled = rkf45.advance(self._rhs(c, self.I_stim.value.reshape(n)), y0,
                                      self.state["H"].value.reshape(n), self.dt, self._EPS_ABS)
        y = dict(zip(names, y))
        y["V"] = jnp.where(stalled, jnp.nan, y["V"])
        W = self._deltas(n, dtype)
        if W is not None:
            y["g_ex"] = y["g_ex"] + W[0]
            y["g_in"] = y["g_in"] + W[1]
        r = self.state["r"].value.reshape(n)
        refractory = r > 0
        spike = ~refractory & (y["V"] >= c["V_T"] + 30.0) & (V_old > y["V"])
        r = jnp.where(refractory, r - 1, jnp.where(spike, c["ref_count"], r))
        self.I_stim.value = self._next_current(x, n, dtype).reshape(self.varshape)
        self._store({**y, "H": H, "r": r})
        return self._emit(spike, n, dtype)
