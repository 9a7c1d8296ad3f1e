r"""NEST's ``iaf_psc_delta_ps``: the LIF neuron with voltage jumps, off the time grid.

With ``U = V_m − E_L``, ``R = τ_m/C_m`` and the constant current of the step
``I = I_e + I_stim``, between events

.. math::

    U(τ) = U_∞ + (U − U_∞)\,e^{−τ/τ_m}, \qquad U_∞ = R\,I

(NEST writes it as ``−U_∞·expm1(−τ/τ_m) + U·expm1(−τ/τ_m) + U``). An input spike of weight
``w`` (mV) makes ``U`` jump by ``w`` at its exact time. The neuron fires

* at an input spike's time if the jump takes ``U`` to ``Θ = V_th − E_L`` or above;
* when the drift reaches ``Θ`` between events: detected at the end of the interval, the
  crossing is ``τ_m·\ln((U_∞ − U)/(U_∞ − Θ))`` before it (exact);
* at once (offset ``h·(1 − ε)``) if the state was set above threshold.

Then ``U ← V_reset − E_L`` and the neuron ignores input until its refractory period ends (at
the spike's offset, ``t_ref`` rounded to steps later). Events at the same time are summed
before they act (NEST accumulates simultaneous spikes for this model).

Per-step order (NEST's ``update``): the instant spike; the end of the refractory period as a
pseudo-event; without events one step with precomputed constants; with events interval by
interval as above, then the rest of the step; ``I_stim ← x`` last.

Not modelled: ``V_min`` and ``refractory_input`` (NEST's defaults −∞ and False; PyNN sets
neither).

Mirrors NEST 3.10's ``iaf_psc_delta_ps``.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import host_expm1
from ._precise_base import PreciseIAFBase

__all__ = ["iaf_psc_delta_ps"]


class iaf_psc_delta_ps(PreciseIAFBase):
    r"""LIF neuron with delta synapses and precise spike times (NEST ``iaf_psc_delta_ps``).

    Parameters (NEST names and units): E_L (mV, −70), C_m (pF, 250), tau_m (ms, 10),
    t_ref (ms, 2, at least one step), V_th (mV, −55), V_reset (mV, −70), I_e (pA, 0).

    Inputs: ``add_precise_input(key, offsets, weights)``, (N, K) arrays of the step's events
    (offsets in ms before the step's end, NaN: none; weights: voltage jumps in mV); delta
    inputs are events at the end of the step. ``update(x)`` returns the spikes of the step,
    their offsets in ``spike_offset``. Recordables: ``V_m``, ``I``.
    """

    NEST_NAME = "iaf_psc_delta_ps"
    PARAMETERS = {
        "E_L": (-70.0, u.mV), "C_m": (250.0, u.pF), "tau_m": (10.0, u.ms),
        "t_ref": (2.0, u.ms), "V_th": (-55.0, u.mV), "V_reset": (-70.0, u.mV),
        "I_e": (0.0, u.pA),
    }
    DELTA_UNIT = u.mV
    RECORDABLES = ("V_m",)
    V_RELATIVE = True
    N_PORTS = 2          # receptor_0/1 as iaf_psc_delta; both are voltage jumps

    def __init__(self, in_size, E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                 V_reset=-70.0, I_e=0.0, V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, E_L=E_L, C_m=C_m,
                         tau_m=tau_m, t_ref=t_ref, V_th=V_th, V_reset=V_reset, I_e=I_e)

    def constants(self, dt: float):
        p, h = self.params, dt
        return {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
                "V_reset": p["V_reset"] - p["E_L"], "ref_count": self._refractory_steps(h),
                "tau_m": p["tau_m"], "R": p["tau_m"] / p["C_m"],
                "expm1_m": host_expm1(-h / p["tau_m"])}

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n, shape = int(np.prod(self.varshape)), self.varshape
        dtype = self._dtype()
        c = self.consts.value
        h = jnp.asarray(self.dt, dtype)
        U = self.V_state.value.reshape(n)
        U_inf = c["R"] * (self.I_stim.value.reshape(n) + c["I_e"])
        theta = c["Theta"]
        V_reset = jnp.broadcast_to(c["V_reset"], (n,)).astype(dtype)
        ref_count = self._ref_count(n)

        U, refractory, r, spike_offset, leaves = self._begin_step(n, dtype, h, theta, U,
                                                                  V_reset)
        ev_off, ev_w, is_pseudo, n_events = self._sorted_events(
            n, dtype, leaves, self.last_spike_offset.value.reshape(n))

        def drift_spike(U, offset_end, active):
            """Where the drift took ``U`` over threshold by the end of an interval that ends
            at ``offset_end``: the spike's offset (NaN elsewhere)."""
            cross = active & (U >= theta)
            since = -c["tau_m"] * jnp.log((U_inf - U) / (U_inf - theta))
            return cross, jnp.where(cross, offset_end + since, jnp.nan)

        # without events: one step with the precomputed constants
        U_quiet = -c["expm1_m"] * U_inf + c["expm1_m"] * U + U
        U_quiet = jnp.where(refractory, U, U_quiet)
        cross_q, off_q = drift_spike(U_quiet, 0.0, ~refractory)

        # with events: interval by interval
        def event(k, carry):
            U, refractory, r, spike_offset, t, pending = carry
            active = k < n_events
            off = ev_off[:, k]
            # simultaneous events act together, at the last of them
            nxt = ev_off[:, jnp.minimum(k + 1, ev_off.shape[1] - 1)]
            joins_next = active & (k + 1 < n_events) & (nxt == off) & ~is_pseudo[:, k] & \
                ~is_pseudo[:, jnp.minimum(k + 1, ev_off.shape[1] - 1)]
            w = ev_w[:, k] + pending
            pending = jnp.where(joins_next, w, 0.0)
            acts = active & ~joins_next
            # refractory: time moves to the event; its end lets the neuron go
            during = acts & refractory
            ends = during & is_pseudo[:, k]
            # not refractory: drift to the event, a crossing on the way, then the jump
            free = acts & ~refractory
            tau = jnp.where(free, t - off, 0.0)
            expm1 = jnp.expm1(-tau / c["tau_m"])
            U_drift = -U_inf * expm1 + U * expm1 + U
            U = jnp.where(free, U_drift, U)
            crossed, drift_off = drift_spike(U, off, free)
            jumped = free & ~crossed & (U + w >= theta)
            U = jnp.where(free & ~crossed, U + w, U)
            fire = crossed | jumped
            spike_offset = jnp.where(crossed, drift_off, jnp.where(jumped, off, spike_offset))
            U = jnp.where(fire, V_reset, U)
            r = jnp.where(fire, ref_count, r)
            refractory = (refractory & ~ends) | fire
            return U, refractory, r, spike_offset, jnp.where(acts, off, t), pending

        init = (U, refractory, r, spike_offset, jnp.full((n,), h), jnp.zeros((n,), dtype))
        U_b, refr_b, r_b, spike_b, t, _ = jax.lax.fori_loop(0, jnp.max(n_events), event, init)
        rest = ~refr_b & (t > 0)
        expm1 = jnp.expm1(-jnp.where(rest, t, 0.0) / c["tau_m"])
        U_b = jnp.where(rest, -U_inf * expm1 + U_b * expm1 + U_b, U_b)
        cross_b, off_b = drift_spike(U_b, 0.0, rest)
        spike_b = jnp.where(cross_b, off_b, spike_b)

        busy = n_events > 0
        cross = jnp.where(busy, cross_b, cross_q)
        U = jnp.where(busy, U_b, U_quiet)
        spike_offset = jnp.where(busy, spike_b, jnp.where(cross_q, off_q, spike_offset))
        refractory = jnp.where(busy, refr_b, refractory) | cross
        r = jnp.where(busy, r_b, r)
        U = jnp.where(cross, V_reset, U)
        r = jnp.where(cross, ref_count, r)
        return self._finish_step(shape, x, n, U, refractory, r, spike_offset)
