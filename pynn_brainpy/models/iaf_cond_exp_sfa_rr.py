r"""NEST's ``iaf_cond_exp_sfa_rr``: ``iaf_cond_exp`` with spike-frequency adaptation and a
relative refractory mechanism (Dayan & Abbott 2001; Muller et al. 2007).

.. math::

    C_m \frac{dV}{dt} = -g_L (V' − E_L) − g_{ex}(V' − E_{ex}) − g_{in}(V' − E_{in})
                        − g_{sfa}(V' − E_{sfa}) − g_{rr}(V' − E_{rr}) + I_{stim} + I_e

    \frac{dg_x}{dt} = -\frac{g_x}{τ_x}, \qquad x ∈ \{ex, in, sfa, rr\}

where ``V' = min(V, V_th)``; while refractory ``dV/dt = 0`` and ``V' = V_reset`` (as in
``iaf_cond_exp``; older NEST versions integrated ``V`` unbounded and also while refractory,
NEST 3.10 does not; checked against it live).
A spike of weight ``w`` (nS) makes ``g_ex`` or ``g_in`` jump by ``w``; every emitted spike adds
``q_sfa`` to ``g_sfa`` and ``q_rr`` to ``g_rr``. ``(V, g_ex, g_in, g_sfa, g_rr)`` are integrated
with GSL's adaptive RKF45 as NEST does (absolute tolerance 1e-3, sub-step carried across steps).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Integrate over ``h`` with ``I_stim`` and the refractory flag (count > 0 at the start of
   the step) held constant.
2. Spikes delivered in this step: ``g_ex ← g_ex + W_ex``, ``g_in ← g_in + W_in``.
3. Refractory: the count goes down by one and ``V ← V_reset``. Otherwise ``V ≥ V_th`` is a
   spike at ``(m+1)·h``: ``V ← V_reset``, refractory for ``t_ref`` (tic-rounded, up to steps),
   ``g_sfa ← g_sfa + q_sfa``, ``g_rr ← g_rr + q_rr``.
4. ``I_stim ← x``: the current given with this step drives the next one.

Ports: ``receptor_0`` excitatory, ``receptor_1`` inhibitory, weights in nS (>= 0).
Mirrors NEST 3.10's ``iaf_cond_exp_sfa_rr``.
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._iaf_base import IAFCondBase
from .iaf_cond_exp import check_cond_parameters, cond_constants

__all__ = ["iaf_cond_exp_sfa_rr"]


class iaf_cond_exp_sfa_rr(IAFCondBase):
    r"""``iaf_cond_exp`` with adaptation and relative refractoriness (NEST
    ``iaf_cond_exp_sfa_rr``).

    Parameters (NEST names, units and defaults): V_th (mV, −57), V_reset (mV, −70),
    t_ref (ms, 0.5), g_L (nS, 28.95), C_m (pF, 289.5), E_ex (mV, 0), E_in (mV, −75),
    E_L (mV, −70), tau_syn_ex (ms, 1.5), tau_syn_in (ms, 10), I_e (pA, 0), tau_sfa (ms, 110),
    tau_rr (ms, 1.97), E_sfa (mV, −70), E_rr (mV, −70), q_sfa (nS, 14.48), q_rr (nS, 3214).
    V_initializer: initial V_m (mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')``, ``w`` in nS;
    ``update(x)``, ``x`` in pA acting on the next step.
    Recordables: ``V_m``, ``g_ex``, ``g_in``, ``g_sfa``, ``g_rr`` (nS), ``I``.
    """

    NEST_NAME = "iaf_cond_exp_sfa_rr"
    PARAMETERS = {
        "V_th": (-57.0, u.mV), "V_reset": (-70.0, u.mV), "t_ref": (0.5, u.ms),
        "g_L": (28.95, u.nS), "C_m": (289.5, u.pF), "E_ex": (0.0, u.mV), "E_in": (-75.0, u.mV),
        "E_L": (-70.0, u.mV), "tau_syn_ex": (1.5, u.ms), "tau_syn_in": (10.0, u.ms),
        "I_e": (0.0, u.pA), "tau_sfa": (110.0, u.ms), "tau_rr": (1.97, u.ms),
        "E_sfa": (-70.0, u.mV), "E_rr": (-70.0, u.mV), "q_sfa": (14.48, u.nS),
        "q_rr": (3214.0, u.nS),
    }
    RECORDABLES = ("V_m", "g_ex", "g_in", "g_rr", "g_sfa")
    LINEAR = (("exp", "tau_ex"), ("exp", "tau_in"), ("exp", "tau_sfa"), ("exp", "tau_rr"))

    def __init__(self, in_size, V_th=-57.0, V_reset=-70.0, t_ref=0.5, g_L=28.95, C_m=289.5,
                 E_ex=0.0, E_in=-75.0, E_L=-70.0, tau_syn_ex=1.5, tau_syn_in=10.0, I_e=0.0,
                 tau_sfa=110.0, tau_rr=1.97, E_sfa=-70.0, E_rr=-70.0, q_sfa=14.48, q_rr=3214.0,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, V_th=V_th,
                         V_reset=V_reset, t_ref=t_ref, g_L=g_L, C_m=C_m, E_ex=E_ex, E_in=E_in,
                         E_L=E_L, tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, I_e=I_e,
                         tau_sfa=tau_sfa, tau_rr=tau_rr, E_sfa=E_sfa, E_rr=E_rr, q_sfa=q_sfa,
                         q_rr=q_rr)

    @classmethod
    def _check(cls, p):
        check_cond_parameters(cls, p, ("tau_syn_ex", "tau_syn_in", "tau_sfa", "tau_rr"))

    def constants(self, dt: float):
        p = self.params
        c = cond_constants(p, dt)
        c.update(tau_sfa=p["tau_sfa"], tau_rr=p["tau_rr"], E_sfa=p["E_sfa"], E_rr=p["E_rr"],
                 q_sfa=p["q_sfa"], q_rr=p["q_rr"])
        return c

    def _make_states(self, shape, dtype):
        zeros = lambda: brainstate.HiddenState(jnp.zeros(shape, dtype))
        self.g_ex, self.g_in, self.g_sfa, self.g_rr = zeros(), zeros(), zeros(), zeros()

    def _state_map(self):
        return {"g_ex": (self.g_ex, None), "g_in": (self.g_in, None),
                "g_sfa": (self.g_sfa, None), "g_rr": (self.g_rr, None)}

    @staticmethod
    def _dV_free(y, c):
        """NEST's ``iaf_cond_exp_sfa_rr_dynamics`` for dV/dt outside refractoriness (same
        arithmetic order)."""
        V0, g_ex, g_in, g_sfa, g_rr = y
        V = jnp.minimum(V0, c["V_th"])
        I_syn_exc = g_ex * (V - c["E_ex"])
        I_syn_inh = g_in * (V - c["E_in"])
        I_L = c["g_L"] * (V - c["E_L"])
        I_sfa = g_sfa * (V - c["E_sfa"])
        I_rr = g_rr * (V - c["E_rr"])
        return ((-I_L + c["I_stim"] + c["I_e"] - I_syn_exc - I_syn_inh - I_sfa - I_rr)
                / c["C_m"])

    @classmethod
    def _rhs(cls, y, c):
        """NEST's ``iaf_cond_exp_sfa_rr_dynamics``; while refractory dV/dt = 0 (the currents
        NEST evaluates at V_reset then only enter that zeroed derivative)."""
        _, g_ex, g_in, g_sfa, g_rr = y
        dV = jnp.where(c["refractory"], 0.0, cls._dV_free(y, c))
        return (dV, -g_ex / c["tau_ex"], -g_in / c["tau_in"], -g_sfa / c["tau_sfa"],
                -g_rr / c["tau_rr"])

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        flat = lambda st: st.value.reshape(n)
        r = flat(self.refractory_step_count)

        # 1. ODE step
        y = (flat(self.V_state), flat(self.g_ex), flat(self.g_in), flat(self.g_sfa),
             flat(self.g_rr))
        (V, g_ex, g_in, g_sfa, g_rr), H = self._integrate(
            self._rhs, y, {**c, "refractory": r > 0, "I_stim": flat(self.I_stim)},
            flat(self.integration_step))
        # 2. spikes delivered in this step
        w_ex, w_in = self._port_inputs(n)
        g_ex, g_in = g_ex + w_ex, g_in + w_in
        # 3. refractoriness, threshold, adaptation jumps
        V, r, spike = self._refractory_and_threshold(V, r, c)
        g_sfa = jnp.where(spike, g_sfa + c["q_sfa"], g_sfa)
        g_rr = jnp.where(spike, g_rr + c["q_rr"], g_rr)
        # 4. buffer the current for the next step
        I_next = self._next_current(x, n)

        self.V_state.value = V.reshape(shape)
        self.g_ex.value, self.g_in.value = g_ex.reshape(shape), g_in.reshape(shape)
        self.g_sfa.value, self.g_rr.value = g_sfa.reshape(shape), g_rr.reshape(shape)
        self.refractory_step_count.value = r.reshape(shape)
        self.integration_step.value = H.reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        return spike.reshape(shape).astype(self._dtype())
