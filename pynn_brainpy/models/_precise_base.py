"""What NEST's precise-spike-time models (``*_ps``) share: events inside the step, the
refractory period that ends at the last spike's offset, spike offsets as output.

Times inside a step are NEST's *offsets*: the time from an event to the end of its step, ``h``
at the start of the step and 0 at its end; a spike of step ``m`` with offset ``o`` happened at
``(m+1)·h − o``. A model gets the events of a step as (N, K) arrays of offsets (NaN: no
event) and weights (``add_precise_input``); delta inputs count as events at the end of the
step. The refractory period ends inside the step ``t_ref`` (rounded to steps) after the spike,
at the spike's offset: a *pseudo-event* that the model handles in time order with the others.
"""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from ._base import refractory_counts
from ._iaf_base import IAFBase

__all__ = ["PreciseIAFBase"]


class PreciseIAFBase(IAFBase):
    """Base of the ``*_ps`` models; a subclass writes ``update`` with ``_begin_step`` and
    ``_finish_step``."""

    PRECISE = True

    def __init__(self, in_size, **kwargs):
        super().__init__(in_size, **kwargs)
        self._precise_inputs = {}

    @classmethod
    def _check(cls, p):
        """NEST's checks shared by the ``*_ps`` models (the step count of ``t_ref`` is
        checked when the step is known, in ``_refractory_steps``)."""
        cls._require(p["V_reset"] >= p["V_th"], "V_reset",
                     "Reset potential must be smaller than threshold.", p["V_reset"])
        cls._require(~(p["C_m"] > 0), "C_m", "Capacitance must be strictly positive.",
                     p["C_m"])
        cls._require(p["t_ref"] < 0, "t_ref",
                     "Refractory time must be at least one time step.", p["t_ref"])
        for k in ("tau_m", "tau_syn_ex", "tau_syn_in"):
            if k in p:
                cls._require(~(p[k] > 0), k, "All time constants must be strictly positive.",
                             p[k])

    def _refractory_steps(self, dt):
        ref = refractory_counts(self.params["t_ref"], dt)
        if np.any(ref < 1):
            self._fail("t_ref", f"Refractory time must be at least one time step ({dt} ms).",
                       self.params["t_ref"][ref < 1])
        return ref

    def _make_states(self, shape, dtype):
        self.is_refractory = brainstate.ShortTermState(jnp.zeros(shape, bool))
        self.last_spike_offset = brainstate.ShortTermState(jnp.zeros(shape, dtype))
        self.spike_offset = brainstate.ShortTermState(jnp.full(shape, jnp.nan, dtype))

    def recordable(self, name: str):
        """The NEST recordables, plus ``spike_offset``: the offset of this step's spike (ms
        before the step's end; NaN if none)."""
        if name == "spike_offset":
            return self.spike_offset.value
        return super().recordable(name)

    def add_precise_input(self, key: str, offsets, weights):
        """Events of the next step: (N, K) offsets (ms before the step end, NaN = none) and
        weights (in the model's input unit)."""
        self._precise_inputs[key] = (offsets, weights)

    def _events(self, n, dtype, leaves, last_offset):
        """This step's events as (n, K) offsets (NaN: none), weights and whether each is the
        end of the refractory period (``leaves``: neurons whose refractory period ends in
        this step, at ``last_offset``), and whether each neuron has any event. Unsorted:
        :meth:`_next_time` takes them in time order."""
        offs, ws = [], []
        for key in list(self._precise_inputs):
            o, w = self._precise_inputs.pop(key)
            offs.append(jnp.asarray(o, dtype).reshape(n, -1))
            ws.append(jnp.asarray(w, dtype).reshape(n, -1))
        for w in self._port_inputs(n):          # delta inputs: at the end of the step
            offs.append(jnp.where(w != 0, 0.0, jnp.nan).astype(dtype)[:, None])
            ws.append(w.reshape(n, 1))
        offs.append(jnp.where(leaves, last_offset, jnp.nan)[:, None])
        ws.append(jnp.zeros((n, 1), dtype))
        off, w = jnp.concatenate(offs, axis=1), jnp.concatenate(ws, axis=1)
        is_pseudo = jnp.zeros(off.shape, bool).at[:, -1].set(leaves)
        return off, jnp.where(jnp.isnan(off), 0.0, w), is_pseudo, jnp.any(~jnp.isnan(off), 1)

    @staticmethod
    def _next_time(off, w, is_pseudo):
        """The earliest remaining events of each neuron (the largest offset) and everything
        that happens then: ``(offset (NaN: none left), weights >= 0 summed, weights < 0
        summed, whether the refractory period ends then, the remaining offsets)``. Events at
        the same time act together (between them no time passes)."""
        latest = jnp.max(jnp.where(jnp.isnan(off), -jnp.inf, off), axis=1)
        has = latest > -jnp.inf
        now = has[:, None] & (off == latest[:, None])
        spike = now & ~is_pseudo
        w_pos = jnp.sum(jnp.where(spike & (w >= 0), w, 0.0), axis=1)
        w_neg = jnp.sum(jnp.where(spike & (w < 0), w, 0.0), axis=1)
        ends = jnp.any(now & is_pseudo, axis=1)
        return (jnp.where(has, latest, jnp.nan), w_pos, w_neg, ends,
                jnp.where(now, jnp.nan, off))

    @staticmethod
    def _by_rows(active, fn, inputs, out, size=None):
        """``out`` (a tuple of (n,) arrays) with its rows where ``active`` replaced by
        ``fn(rows, valid)``: the rows of ``inputs`` (a pytree; leaves with a leading axis
        of n are per-neuron, others shared) gathered in batches of ``size`` (default
        ``max(16, n/8)``), so the work follows the neurons that need it. ``valid`` marks the
        batch's real rows (the padding repeats the last neuron; its results are dropped)."""
        n = active.shape[0]
        size = min(n, size or max(16, n // 8))
        per_neuron = lambda a: jnp.ndim(a) >= 1 and a.shape[0] == n

        def batch(carry):
            todo, out = carry
            idx = jnp.nonzero(todo, size=size, fill_value=n)[0]
            valid = idx < n
            rows = jax.tree_util.tree_map(
                lambda a: a[jnp.minimum(idx, n - 1)] if per_neuron(a) else a, inputs)
            result = fn(rows, valid)
            out = tuple(o.at[idx].set(r, mode="drop") for o, r in zip(out, result))
            return todo.at[idx].set(False, mode="drop"), out

        return jax.lax.while_loop(lambda carry: jnp.any(carry[0]), batch, (active, out))[1]

    def _begin_step(self, n, dtype, h, theta, V, V_reset):
        """Steps 0–1 of every ``*_ps`` update: count the refractory period down, spike at
        once where the state was set above threshold (offset ``h·(1 − ε)``). Returns
        ``(V, refractory, r, spike_offset, leaves)``."""
        r = self.refractory_step_count.value.reshape(n)
        refractory = self.is_refractory.value.reshape(n)
        r = r - refractory.astype(r.dtype)
        leaves = refractory & (r == 0)
        instant = ~refractory & (V >= theta)
        spike_offset = jnp.where(instant, h * (1 - jnp.finfo(dtype).eps), jnp.nan)
        V = jnp.where(instant, V_reset, V)
        r = jnp.where(instant, self._ref_count(n), r)
        return V, refractory | instant, r, spike_offset, leaves

    def _ref_count(self, n):
        return jnp.broadcast_to(self.consts.value["ref_count"], (n,))

    def _finish_step(self, shape, x, n, V, refractory, r, spike_offset):
        """Store the common states; return the spikes of the step."""
        spike = ~jnp.isnan(spike_offset)
        last = self.last_spike_offset.value.reshape(n)
        self.V_state.value = V.reshape(shape)
        self.refractory_step_count.value = r.reshape(shape)
        self.is_refractory.value = refractory.reshape(shape)
        self.last_spike_offset.value = jnp.where(spike, spike_offset, last).reshape(shape)
        self.spike_offset.value = spike_offset.reshape(shape)
        self.I_stim.value = self._next_current(x, n).reshape(shape)
        return spike.reshape(shape).astype(self._dtype())
