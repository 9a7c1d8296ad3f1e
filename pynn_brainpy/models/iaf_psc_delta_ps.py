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

    @staticmethod
    def _drift_spike(c, U_inf, U, offset_end, active):
        """Where the drift took ``U`` over threshold by the end of an interval that ends at
        ``offset_end``: the crossing, exactly, as the spike's offset (NaN elsewhere)."""
        cross = active & (U >= c["Theta"])
        since = -c["tau_m"] * jnp.log((U_inf - U) / (U_inf - c["Theta"]))
        return cross, jnp.where(cross, offset_end + since, jnp.nan)

    def _through_events(self, c, U_inf, h, state, ev_off, ev_w, is_pseudo):
        """Neurons with events, interval by interval to the end of the step; the events of
        one moment are summed (as NEST does for this model). Returns ``(U, refractory, r,
        spike_offset)``."""
        def event(carry):
            U, refractory, r, spike_offset, t, remaining = carry
            off, w_pos, w_neg, ends, remaining = self._next_time(remaining, ev_w, is_pseudo)
            active = ~jnp.isnan(off)
            off = jnp.where(active, off, t)
            w = w_pos + w_neg
            # refractory: input is lost; at the end of the period the neuron takes the input
            # of that moment (no drift before it: it was held at V_reset)
            released = active & refractory & ends
            # not refractory: drift to the event, a crossing on the way, then the jump
            free = active & ~refractory
            tau = jnp.where(free, t - off, 0.0)
            expm1 = jnp.expm1(-tau / c["tau_m"])
            U = jnp.where(free, -U_inf * expm1 + U * expm1 + U, U)
            crossed, drift_off = self._drift_spike(c, U_inf, U, off, free)
            takes = (free & ~crossed) | released
            jumped = takes & (U + w >= c["Theta"])
            U = jnp.where(takes, U + w, U)
            fire = crossed | jumped
            spike_offset = jnp.where(crossed, drift_off, jnp.where(jumped, off, spike_offset))
            U = jnp.where(fire, c["V_reset"], U)
            r = jnp.where(fire, c["ref_count"], r)
            refractory = (refractory & ~released) | fire
            return U, refractory, r, spike_offset, jnp.where(active, off, t), remaining

        U, refractory, r, spike_offset, t, _ = jax.lax.while_loop(
            lambda carry: jnp.any(~jnp.isnan(carry[5])), event,
            state + (jnp.full(U_inf.shape, h), ev_off))
        # the rest of the step after the last event
        rest = ~refractory & (t > 0)
        expm1 = jnp.expm1(-jnp.where(rest, t, 0.0) / c["tau_m"])
        U = jnp.where(rest, -U_inf * expm1 + U * expm1 + U, U)
        cross, off = self._drift_spike(c, U_inf, U, 0.0, rest)
        return (jnp.where(cross, c["V_reset"], U), refractory | cross,
                jnp.where(cross, c["ref_count"], r), jnp.where(cross, off, spike_offset))

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n, shape = int(np.prod(self.varshape)), self.varshape
        dtype = self._dtype()
        c = self.consts.value
        h = jnp.asarray(self.dt, dtype)
        U = self.V_state.value.reshape(n)
        U_inf = c["R"] * (self.I_stim.value.reshape(n) + c["I_e"])
        V_reset = jnp.broadcast_to(c["V_reset"], (n,)).astype(dtype)

        U, refractory, r, spike_offset, leaves = self._begin_step(n, dtype, h, c["Theta"], U,
                                                                  V_reset)
        ev_off, ev_w, is_pseudo, has_events = self._events(
            n, dtype, leaves, self.last_spike_offset.value.reshape(n))

        # without events: one step with the precomputed constants
        U_quiet = jnp.where(refractory, U, -c["expm1_m"] * U_inf + c["expm1_m"] * U + U)
        cross, off = self._drift_spike(c, U_inf, U_quiet, 0.0, ~refractory)
        quiet = (jnp.where(cross, V_reset, U_quiet), refractory | cross,
                 jnp.where(cross, self._ref_count(n), r), jnp.where(cross, off, spike_offset))

        # with events: the neurons that have them, gathered in batches
        U, refractory, r, spike_offset = self._by_rows(
            has_events, lambda rows, valid: self._through_events(
                rows["c"], rows["U_inf"], h, rows["state"],
                jnp.where(valid[:, None], rows["off"], jnp.nan), rows["w"], rows["pseudo"]),
            {"c": c, "U_inf": U_inf, "state": (U, refractory, r, spike_offset), "off": ev_off,
             "w": ev_w, "pseudo": is_pseudo}, quiet)
        return self._finish_step(shape, x, n, U, refractory, r, spike_offset)
