r"""NEST's ``iaf_psc_exp_ps``: the LIF neuron with exponential currents, off the time grid.

Same equations as :mod:`.iaf_psc_exp` (``V = V_m − E_L``):

.. math::

    \frac{dV}{dt} = -\frac{V}{τ_m} + \frac{I_{ex} + I_{in} + I_e + I_{stim}}{C_m}, \qquad
    \frac{dI_x}{dt} = -\frac{I_x}{τ_x}

but input spikes arrive at their exact times inside a step and the neuron spikes at the exact
time ``V`` reaches ``Θ = V_th − E_L`` (Morrison et al. 2007; Hanuschkin et al. 2010). Over an
interval ``τ`` without events the state moves with the exact propagator

.. math::

    V(τ) = P_{20}(τ)(I_e + I_{stim}) + P_{21}^{ex}(τ) I_{ex} + P_{21}^{in}(τ) I_{in}
           + e^{−τ/τ_m} V, \qquad
    P_{20}(τ) = −\frac{τ_m}{C_m}\,\mathrm{expm1}(−τ/τ_m), \qquad I_x(τ) = e^{−τ/τ_x} I_x

with ``P21`` NEST's ``IAFPropagatorExp`` (:mod:`.iaf_propagator`; here evaluated on the device
for each interval). Times inside a step are NEST's *offsets*: the time from an event to the
end of its step, ``h`` at the start of the step and 0 at its end; a spike of step ``m`` with
offset ``o`` happened at ``(m+1)·h − o``.

Per-step order (NEST's ``update``):

0. ``V ≥ Θ`` at the start of the step (only possible when the state was set so): a spike at
   offset ``h·(1 − ε)``.
1. The neuron leaves the refractory period in this step if its last spike was ``t_ref``
   (rounded to steps) steps ago: a pseudo-event at the last spike's offset ends it.
2. No events: one full step with the step's precomputed constants (NEST writes the ``V``
   update as ``expm1(−h/τ_m)·V + V`` there); a spike if ``V ≥ Θ`` at the end.
3. Events (sorted by time): propagate to each event; if ``V ≥ Θ`` after an interval, the
   crossing inside it is located with the Illinois variant of regula falsi (tolerance 1e-14
   mV, from the state at the interval's start), ``V ← V_reset − E_L`` and the neuron is
   refractory; then the event acts (weight ≥ 0 onto ``I_ex``, < 0 onto ``I_in``, as NEST
   routes by sign) or ends the refractory period; the rest of the step after the last event.
   While refractory ``V`` is held and the currents decay.
4. ``I_stim ← x`` (the current given with this step drives the next one).

At most one spike per step (a spike makes the neuron refractory for at least a step).

Not modelled: ``V_min`` (NEST's default −∞; PyNN does not set it).

Mirrors NEST 3.10's ``iaf_psc_exp_ps``.
"""

from typing import Optional

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import host_exp, host_expm1
from ._precise_base import PreciseIAFBase
from .iaf_propagator import propagator_exp
from .iaf_psc_exp import iaf_psc_exp

__all__ = ["iaf_psc_exp_ps", "regula_falsi"]

_MAX_ITER = 500
_TOLERANCE = 1e-14
_CROSSING_BATCH = 32       # threshold crossings located together (see _crossing)


def _p21(tau_syn, tau_m, c_m, t):
    """NEST's ``IAFPropagatorExp::evaluate(t)`` on the device, for a vector of intervals: the
    regular expression when it is a normal positive number, the ``τ_s → τ_m`` limit
    otherwise."""
    inv_beta = (tau_m - tau_syn) / (tau_syn * tau_m)
    gamma = tau_syn * tau_m / (tau_m - tau_syn) / c_m
    regular = gamma * jnp.exp(-t / tau_syn) * jnp.expm1(t * inv_beta)
    tiny = jnp.finfo(t.dtype).tiny
    ok = jnp.isfinite(regular) & (jnp.abs(regular) >= tiny) & (regular > 0)
    return jnp.where(ok, regular, t / c_m * jnp.exp(-t / tau_m))


def regula_falsi(distance, length, active):
    """Per neuron, the root of ``distance(t)`` in ``[0, length]`` (``distance(0) < 0 ≤
    distance(length)``) by the Illinois algorithm, as NEST's ``regula_falsi``: stop when
    ``|distance| < 1e-14`` or after 500 iterations. Only ``active`` neurons iterate."""
    a = jnp.zeros_like(length)
    b = length
    fa, fb = distance(a), distance(b)

    def more(c):
        it, done = c[0], c[-1]
        return (it < _MAX_ITER) & jnp.any(~done)

    def body(c):
        it, a, b, fa, fb, side, root, done = c
        r = (a * fb - b * fa) / (fb - fa)
        fr = distance(r)
        go = ~done
        root = jnp.where(go, r, root)
        done = done | (jnp.abs(fr) < _TOLERANCE)
        move_a = go & ~done & (fa * fr > 0)
        move_b = go & ~done & ~move_a & (fb * fr > 0)
        fb = jnp.where(move_a & (side == 1), fb / 2, fb)
        fa = jnp.where(move_b & (side == -1), fa / 2, fa)
        a, fa = jnp.where(move_a, r, a), jnp.where(move_a, fr, fa)
        b, fb = jnp.where(move_b, r, b), jnp.where(move_b, fr, fb)
        side = jnp.where(move_a, 1, jnp.where(move_b, -1, side))
        # neither side: NEST throws (the bracket was lost); stop there
        done = done | (go & ~move_a & ~move_b)
        return it + 1, a, b, fa, fb, side, root, done

    init = (jnp.asarray(0, jnp.int32), a, b, fa, fb, jnp.zeros(length.shape, jnp.int32),
            length, ~active)
    return jax.lax.while_loop(more, body, init)[6]


class iaf_psc_exp_ps(PreciseIAFBase):
    r"""LIF neuron with exponential PSCs and precise spike times (NEST ``iaf_psc_exp_ps``).

    Parameters as :class:`.iaf_psc_exp.iaf_psc_exp` (NEST names and units): E_L (mV, −70),
    C_m (pF, 250), tau_m (ms, 10), t_ref (ms, 2, at least one step), V_th (mV, −55),
    V_reset (mV, −70), tau_syn_ex (ms, 2), tau_syn_in (ms, 2), I_e (pA, 0).

    Inputs: ``add_precise_input(key, offsets, weights)`` with (N, K) arrays: the events of
    this step, ``offsets`` in ms before the step's end (NaN: no event), ``weights`` in pA
    (signed; the sign picks the synapse, as in NEST). Delta inputs (``add_delta_input``) are
    events at the end of the step. ``update(x)`` returns the spikes of the step; their
    offsets are in the state ``spike_offset`` (NaN where none).
    Recordables: ``V_m``, ``I_syn_ex``, ``I_syn_in`` (pA), ``I``.
    """

    NEST_NAME = "iaf_psc_exp_ps"
    PARAMETERS = iaf_psc_exp.PARAMETERS
    DELTA_UNIT = u.pA
    RECORDABLES = ("V_m", "I_syn_ex", "I_syn_in")
    V_RELATIVE = True

    def __init__(self, in_size, E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                 V_reset=-70.0, tau_syn_ex=2.0, tau_syn_in=2.0, I_e=0.0,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, E_L=E_L, C_m=C_m,
                         tau_m=tau_m, t_ref=t_ref, V_th=V_th, V_reset=V_reset,
                         tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, I_e=I_e)

    def constants(self, dt: float):
        p, h = self.params, dt
        ref = self._refractory_steps(h)
        return {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
                "V_reset": p["V_reset"] - p["E_L"], "ref_count": ref,
                "tau_m": p["tau_m"], "tau_ex": p["tau_syn_ex"], "tau_in": p["tau_syn_in"],
                "C_m": p["C_m"],
                "expm1_m": host_expm1(-h / p["tau_m"]),
                "P20": -p["tau_m"] / p["C_m"] * host_expm1(-h / p["tau_m"]),
                "P11_ex": host_exp(-h / p["tau_syn_ex"]),
                "P11_in": host_exp(-h / p["tau_syn_in"]),
                "P21_ex": propagator_exp(p["tau_syn_ex"], p["tau_m"], p["C_m"], h),
                "P21_in": propagator_exp(p["tau_syn_in"], p["tau_m"], p["C_m"], h)}

    def _make_states(self, shape, dtype):
        super()._make_states(shape, dtype)
        self.I_ex = brainstate.HiddenState(jnp.zeros(shape, dtype))
        self.I_in = brainstate.HiddenState(jnp.zeros(shape, dtype))

    def _state_map(self):
        return {"I_syn_ex": (self.I_ex, None), "I_syn_in": (self.I_in, None)}

    def _propagate(self, c, y0, t, V, I_ex, I_in, refractory):
        """The state after an interval ``t`` (n,) without events; ``V`` held if refractory."""
        P20 = -c["tau_m"] / c["C_m"] * jnp.expm1(-t / c["tau_m"])
        V_new = (P20 * (c["I_e"] + y0) + _p21(c["tau_ex"], c["tau_m"], c["C_m"], t) * I_ex
                 + _p21(c["tau_in"], c["tau_m"], c["C_m"], t) * I_in
                 + V * jnp.exp(-t / c["tau_m"]))
        return (jnp.where(refractory, V, V_new), I_ex * jnp.exp(-t / c["tau_ex"]),
                I_in * jnp.exp(-t / c["tau_in"]))

    def _crossing(self, c, y0, before, length, active):
        """Time from the interval's start to the threshold crossing, per neuron (``active``
        ones; 0 elsewhere). Few neurons cross in a step, so they are gathered, up to
        ``_CROSSING_BATCH`` at a time, and only they iterate."""
        def roots(rows, valid):
            V_b, I_ex_b, I_in_b = rows["before"]
            no_refractory = jnp.zeros(V_b.shape, bool)

            def distance(t):
                t = jnp.where(valid, t, 0.0)
                return (self._propagate(rows["c"], rows["y0"], t, V_b, I_ex_b, I_in_b,
                                        no_refractory)[0] - rows["c"]["Theta"])
            return (regula_falsi(distance, jnp.where(valid, rows["length"], 1.0), valid),)

        return self._by_rows(active, roots, {"c": c, "y0": y0, "before": before,
                                             "length": length},
                             (jnp.zeros_like(length),), size=_CROSSING_BATCH)[0]

    def _spike_in(self, c, y0, h, state, t0, length, active):
        """Neurons over threshold at the end of an interval ``[t0, t0 + length]`` (from the
        step's start) spike at the crossing, are reset and become refractory."""
        V, I_ex, I_in, refractory, r, spike_offset, before = state
        cross = active & (V >= c["Theta"])
        root = jax.lax.cond(jnp.any(cross),
                            lambda: self._crossing(c, y0, before, length, cross),
                            lambda: jnp.zeros_like(length))
        spike_offset = jnp.where(cross, h - (t0 + root), spike_offset)
        V = jnp.where(cross, c["V_reset"], V)
        r = jnp.where(cross, c["ref_count"], r)
        return (V, I_ex, I_in, refractory | cross, r, spike_offset, before)

    def _through_events(self, c, y0, h, state, ev_off, ev_w, is_pseudo):
        """Step 3 for neurons with events: interval by interval, to the end of the step.
        Events at the same time act together (NEST adds them one by one with no time
        between: the same up to rounding)."""
        def event(carry):
            state, last, remaining = carry
            V, I_ex, I_in, refractory, r, spike_offset, before = state
            off, w_pos, w_neg, ends, remaining = self._next_time(remaining, ev_w, is_pseudo)
            active = ~jnp.isnan(off)
            off = jnp.where(active, off, last)
            ministep = last - off
            moves = active & (ministep > 0)
            V2, I_ex2, I_in2 = self._propagate(c, y0, jnp.where(moves, ministep, 0.0), V, I_ex,
                                               I_in, refractory)
            state = (jnp.where(moves, V2, V), jnp.where(moves, I_ex2, I_ex),
                     jnp.where(moves, I_in2, I_in), refractory, r, spike_offset, before)
            state = self._spike_in(c, y0, h, state, h - last, jnp.where(moves, ministep, 1.0),
                                   moves)
            V, I_ex, I_in, refractory, r, spike_offset, before = state
            I_ex, I_in = I_ex + w_pos, I_in + w_neg
            refractory = refractory & ~ends
            before = tuple(jnp.where(active, a, b) for a, b in zip((V, I_ex, I_in), before))
            return (V, I_ex, I_in, refractory, r, spike_offset, before), off, remaining

        state, last, _ = jax.lax.while_loop(lambda c: jnp.any(~jnp.isnan(c[2])), event,
                                            (state, jnp.full(y0.shape, h), ev_off))
        V, I_ex, I_in, refractory, r, spike_offset, before = state
        rest = last > 0
        V2, I_ex2, I_in2 = self._propagate(c, y0, jnp.where(rest, last, 0.0), V, I_ex, I_in,
                                           refractory)
        state = (jnp.where(rest, V2, V), jnp.where(rest, I_ex2, I_ex),
                 jnp.where(rest, I_in2, I_in), refractory, r, spike_offset, before)
        return self._spike_in(c, y0, h, state, h - last, jnp.where(rest, last, 1.0), rest)[:6]

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n, shape = int(np.prod(self.varshape)), self.varshape
        dtype = self._dtype()
        c = self.consts.value
        h = jnp.asarray(self.dt, dtype)
        flat = lambda st: st.value.reshape(n)
        V, I_ex, I_in, y0 = flat(self.V_state), flat(self.I_ex), flat(self.I_in), \
            flat(self.I_stim)

        # 0.-1. a state set above threshold spikes at once; the end of the refractory period
        V_reset = jnp.broadcast_to(c["V_reset"], (n,)).astype(dtype)
        V, refractory, r, spike_offset, leaves = self._begin_step(n, dtype, h, c["Theta"], V,
                                                                  V_reset)
        ev_off, ev_w, is_pseudo, has_events = self._events(
            n, dtype, leaves, self.last_spike_offset.value.reshape(n))

        # 2. neurons without events: one step with the precomputed constants
        V_fast = (c["P20"] * (c["I_e"] + y0) + c["P21_ex"] * I_ex + c["P21_in"] * I_in
                  + c["expm1_m"] * V + V)
        quiet = (jnp.where(refractory, V, V_fast), I_ex * c["P11_ex"], I_in * c["P11_in"],
                 refractory, r, spike_offset, (V, I_ex, I_in))
        quiet = self._spike_in(c, y0, h, quiet, jnp.zeros((n,), dtype), jnp.full((n,), h),
                               ~has_events)[:6]

        # 3. neurons with events, gathered in batches
        state = (V, I_ex, I_in, refractory, r, spike_offset, (V, I_ex, I_in))
        busy = self._by_rows(
            has_events, lambda rows, valid: self._through_events(
                rows["c"], rows["y0"], h, rows["state"], jnp.where(valid[:, None],
                                                                    rows["off"], jnp.nan),
                rows["w"], rows["pseudo"]),
            {"c": c, "y0": y0, "state": state, "off": ev_off, "w": ev_w, "pseudo": is_pseudo},
            quiet)

        V, I_ex, I_in, refractory, r, spike_offset = busy
        self.I_ex.value, self.I_in.value = I_ex.reshape(shape), I_in.reshape(shape)
        # 4. buffer the current for the next step
        return self._finish_step(shape, x, n, V, refractory, r, spike_offset)
