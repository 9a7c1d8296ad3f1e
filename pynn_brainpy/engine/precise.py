"""Spike times off the time grid (NEST's "precise spikes", PyNN's ``spike_precision="off_grid"``).

A spike of step ``m`` (the step ``(m·h, (m+1)·h]``) may carry an *offset* ``o ∈ [0, h)``: it
happened at ``(m+1)·h − o``, as NEST stamps precise spikes. Groups that produce such spikes
(models with ``PRECISE = True``, spike arrays with off-grid times, precise Poisson sources)
hand the engine, besides their spike counts, an ``(N, S)`` array of offsets per step, NaN in
unused slots; ``S`` is the most spikes a cell can emit in one step (1 for neurons).

Grid-based targets ignore offsets (a spike acts at the end of its arrival step, as NEST's grid
models do). Precise targets receive every event with its offset: the engine keeps, for each
group that sends to one, a history of its last ``L`` steps of offsets and multiplicities
(``L`` = longest delay + 1) and, in step ``m``, gathers for each target cell the events of
its connections ``c`` from step ``m − D_c``: an event keeps its offset over a whole-step
delay. The gather is dense over each target's connections (padded to the largest in-degree),
so its cost per step is connections × S whether or not spikes happened: the price of exact
event times, paid only by precise targets.
"""

import math
from dataclasses import dataclass
from typing import List

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["PreciseInput", "build_inputs", "poisson_slots", "array_slots", "history_entry",
           "gather_events", "poisson_offsets"]

#: A precise Poisson source keeps room for this many spikes per cell and step that the
#: probability of a cell needing more in one step is below this bound.
POISSON_TAIL = 1e-20


@dataclass
class PreciseInput:
    """The static connections from group ``pre`` into the precise group ``post``, laid out
    per target cell: row ``j`` lists the connections into cell ``j`` (padded to the largest
    in-degree ``K``). ``source[j, k]`` indexes the members' concatenated weights."""
    pre: int
    post: int
    members: List[int]
    pre_idx: np.ndarray     # (n_post, K) int32
    delay: np.ndarray       # (n_post, K) int32
    source: np.ndarray      # (n_post, K) int64
    valid: np.ndarray       # (n_post, K) bool


def build_inputs(synapses, groups, precise_posts) -> List[PreciseInput]:
    """One PreciseInput per (sender group, precise target group) pair."""
    out = []
    pairs = sorted({(s.pre, s.post) for s in synapses if s.post in precise_posts})
    for pre, post in pairs:
        members = [i for i, s in enumerate(synapses) if (s.pre, s.post) == (pre, post)]
        for i in members:
            if synapses[i].dynamics is not None:
                raise NotImplementedError(
                    "Plastic or stochastic synapses onto a model with precise spike times "
                    f"({type(groups[post].model).__name__}) are not supported; use "
                    "spike_precision='on_grid'.")
        pre_idx = np.concatenate([np.asarray(synapses[i].pre_idx, np.int64) for i in members])
        post_idx = np.concatenate([np.asarray(synapses[i].post_idx, np.int64) for i in members])
        delay = np.concatenate([np.broadcast_to(np.asarray(synapses[i].delay, np.int64),
                                                synapses[i].pre_idx.shape) for i in members])
        n_post = groups[post].size
        order = np.argsort(post_idx, kind="stable")
        counts = np.bincount(post_idx, minlength=n_post)
        K = max(1, int(counts.max(initial=0)))
        rank = np.arange(order.size) - np.repeat(np.cumsum(counts) - counts, counts)
        rows, cols = post_idx[order], rank
        table = lambda values, fill: _scatter((n_post, K), rows, cols, values, fill)
        out.append(PreciseInput(pre, post, members, table(pre_idx[order], 0).astype(np.int32),
                                table(delay[order], 1).astype(np.int32), table(order, 0),
                                table(np.ones(order.size, bool), False)))
    return out


def _scatter(shape, rows, cols, values, fill):
    out = np.full(shape, fill, dtype=np.asarray(values).dtype)
    out[rows, cols] = values
    return out


def input_weights(inp: PreciseInput, synapses, dtype):
    """(n_post, K) weights of ``inp`` (0 in the padding), an argument of the compiled step."""
    w = np.concatenate([np.broadcast_to(np.asarray(synapses[i].weight, np.float64),
                                        synapses[i].pre_idx.shape) for i in inp.members])
    return jnp.asarray(np.where(inp.valid, w[inp.source], 0.0), dtype)


def poisson_slots(lam) -> int:
    """Spikes per cell and step a precise Poisson source keeps room for: the smallest ``S``
    with ``P(count > S) < POISSON_TAIL`` at the largest mean count ``lam``."""
    lam_max = float(np.max(lam, initial=0.0))
    if lam_max <= 0:
        return 1

    def tail(S):        # P(count > S), summed term by term (1 − CDF would cancel)
        top = S + 50 + int(10 * math.sqrt(lam_max))
        return sum(math.exp(k * math.log(lam_max) - lam_max - math.lgamma(k + 1))
                   for k in range(S + 1, top))
    S = 1
    while tail(S) >= POISSON_TAIL:
        S += 1
    return S


def array_slots(steps) -> int:
    """The most spikes one cell of a spike array emits in one step."""
    most = [np.max(np.unique(s, return_counts=True)[1]) for s in steps if len(s)]
    return max([1] + [int(x) for x in most])


def history_entry(counts, offsets, slots: int, dtype):
    """One step of a sender's history, (n, slots) offsets and multiplicities. Grid senders
    (``offsets`` None) spike at the end of the step (offset 0) with their count."""
    n = counts.shape[0]
    if offsets is None:
        off = jnp.where(counts > 0, 0.0, jnp.nan).astype(dtype)[:, None]
        mult = counts.astype(dtype)[:, None]
        if slots > 1:
            off = jnp.concatenate([off, jnp.full((n, slots - 1), jnp.nan, dtype)], axis=1)
            mult = jnp.concatenate([mult, jnp.zeros((n, slots - 1), dtype)], axis=1)
        return off, mult
    offsets = offsets.reshape(n, -1).astype(dtype)
    return offsets, (~jnp.isnan(offsets)).astype(dtype)


def gather_events(history, inp: PreciseInput, weights, m, ring_len):
    """The events reaching each cell of ``inp.post`` in step ``m``: (n_post, K·S) offsets
    (NaN: none) and weights (weight × multiplicity)."""
    hist_off, hist_mult = history
    slot = (m - jnp.asarray(inp.delay)) % ring_len              # (n_post, K)
    pre = jnp.asarray(inp.pre_idx)
    off = hist_off[slot, pre]                                     # (n_post, K, S)
    w = weights[:, :, None] * hist_mult[slot, pre]
    off = jnp.where(jnp.asarray(inp.valid)[:, :, None], off, jnp.nan)
    n_post = off.shape[0]
    return off.reshape(n_post, -1), w.reshape(n_post, -1)


def poisson_offsets(key, counts, slots: int, h: float, dtype):
    """Offsets of ``counts`` spikes per cell spread uniformly over the step (a Poisson
    process's spike times given their number are independent and uniform), (n, slots),
    and whether some cell had more spikes than slots."""
    u = jax.random.uniform(key, (counts.shape[0], slots), dtype)
    used = jnp.arange(slots)[None, :] < counts[:, None]
    return jnp.where(used, u * h, jnp.nan), jnp.any(counts > slots)
