"""A network of brainstate models and spike sources, compiled into one looped step function.

The PyNN layer describes a network with the plain records below and the engine runs it. Nothing
here knows PyNN.

Timing is NEST's (spec §6, §8). Step ``m`` covers ``(m·dt, (m+1)·dt]``; a spike found in step
``m`` has the time ``(m+1)·dt``. Over a connection of ``D`` steps it reaches the target as a
delta input at the end of step ``m + D``. A spike source fires in step ``m`` for a spike time
``(m+1)·dt``.

Delivery is event-driven, one sparse product per step whatever the number of sending and
target groups, input labels and distinct delays. Every (target group, input label) has its
columns in one ring buffer of ``L = max(D) + 1`` rows (row ``s``: what arrives at the end of
the steps ``≡ s mod L``). The rows of one CSR matrix are the cells of every sending group, one
group after the other; its column for a connection to target column ``j`` over ``D`` steps
is the position ``D·width + j``, so the spikes of step ``m`` land in row ``(m + D) mod L``.
After the sends of step ``m − 1`` (``D ≥ 1`` makes it complete) row ``m mod L`` is taken out
and cleared, and step ``m`` hands it to the targets. On the CPU one native call does the
product into the ring and takes the next row out
(:func:`.event_product.deliver_into_ring`): the cost is spikes × fan-out plus one row.

External currents are given per step: the value passed with step ``m`` is what the neuron sees
from step ``m+1`` on, so a current switched on at time ``t`` is passed with step ``t/dt − 1``
and a value at ``t = 0`` is loaded into the model before the first step.

Gap junctions (:mod:`.gap_junctions`) add, at the start of every step, a current computed
from the coupled cells' voltages at the end of the previous step (explicit coupling).

Spikes off the grid (:mod:`.precise`): groups may hand over, with their spike counts, the
offsets of the spikes inside the step; models with precise spike times receive their input
as events with offsets, gathered from the senders' recent history instead of the ring buffers.

Values that may change between runs (weights, Poisson rates, model constants held in
``LongTermState`` s, currents, source spikes) are arguments of the compiled chunk function, so
changing them does not recompile. A chunk has a fixed length (a power of two up to
``max_chunk``) and a dynamic number of steps (a while loop), so runs of any length up to it
reuse the same compiled function.
"""

import contextlib
import functools
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import brainstate
import jax
import jax.numpy as jnp
import numpy as np

from . import counter_rng
from . import gap_junctions as gap
from . import native, precise, warmup
from .connection_order import order_by_row_then_key
from .native import nonzero_bytes
from . import _ring_worker
from .event_product import deliver_into_ring, join_ring, worker_available

__all__ = ["NeuronGroup", "SpikeArrayGroup", "GeneratorGroup", "PoissonGroup", "Synapses",
           "CurrentInput",
           "Probe", "Network"]


@dataclass
class NeuronGroup:
    """A population simulated by a brainstate model (``update(x)``, ``add_delta_input``,
    ``recordable(name)``, ``I_stim``, ``init_state``)."""
    model: brainstate.nn.Dynamics
    size: int


@dataclass
class SpikeArrayGroup:
    """Spike sources with given spike steps: ``steps[i]`` are the emission steps of cell i
    (a spike at time ``t`` is emitted in step ``t/dt − 1``). With ``offsets`` (one array per
    cell, like ``steps``) the spikes are off the grid (:mod:`.precise`): a spike of step ``m``
    with offset ``o`` happened at ``(m+1)·dt − o``."""
    size: int
    steps: List[np.ndarray]
    offsets: Optional[List[np.ndarray]] = None


@dataclass
class GeneratorGroup:
    """Spike sources computed inside the simulation.

    ``generate(key, t, params, state) -> (counts, state)`` gives the spike counts (one per
    cell) of the step whose spikes have the time ``t = (m+1)·dt``. ``key`` is a PRNG key of
    that step and group only (counter-based: the draws do not depend on chunking, and a
    reset replays them); ``params`` is a dict of per-cell arrays that may change between
    runs without recompiling; ``state`` is carried from step to step and starts from
    ``initial_state`` (a pytree of arrays, or None) at every reset.

    ``precise``: the spikes are Poisson events off the grid (:mod:`.precise`), each at a
    uniformly drawn time in its step; ``params`` must then hold the mean counts ``lam``.
    """
    size: int
    generate: Callable
    params: dict
    initial_state: object = None
    precise: bool = False


def _poisson_counts(key, lam):
    """Poisson counts with means ``lam`` (one per cell).

    A source's mean count per step is small, so the CDF is inverted from one uniform ``u``
    per cell (:func:`.counter_rng.uniform` under the step's key): the count is the first
    ``k`` whose cumulative probability ``F_k`` reaches ``u``. In almost every step every
    ``u`` is at most ``F_1 = e^{-λ} + e^{-λ}λ`` and the count is ``u > e^{-λ}``; otherwise the
    inversion runs in a loop of as many rounds as the largest count of the step, with the
    same arithmetic (the same counts). In a step where some mean exceeds 10, those cells'
    counts come from :func:`_poisson_large` instead (the inversion would need ~λ rounds, and
    ``e^{-λ}`` underflows). Exact in both cases."""
    def uniform():
        return counter_rng.uniform(key, lam.shape[0], lam.dtype)

    p0 = jnp.exp(-lam)
    u = uniform()
    # 0, 1, or 2 for "more than one": u's only user, so XLA computes it once (every further
    # user of u would get its own copy of the threefry rounds fused in; the rare branches
    # below draw u again)
    first = (u > p0).astype(jnp.int32) + (u > p0 + p0 * lam).astype(jnp.int32)

    def at_most_one(first):
        return first

    def inversion(small):
        """The CDF inversion for means ``small`` (≤ 10; at most 100 rounds)."""
        u, p0 = uniform(), jnp.exp(-small)

        def more(c):
            k, p, F = c
            return jnp.any((u > F) & (k < 100))

        def step(c):
            k, p, F = c
            go = (u > F) & (k < 100)
            k_next = k + go.astype(k.dtype)
            p_next = jnp.where(go, p * small / k_next.astype(small.dtype), p)
            return k_next, p_next, jnp.where(go, F + p_next, F)

        k, _, _ = jax.lax.while_loop(more, step, (jnp.zeros(small.shape, jnp.int32), p0, p0))
        return k

    def with_large_means(_):
        large = lam > 10.0
        return jnp.where(large, _poisson_large(key, lam, large),
                         inversion(jnp.where(large, 0.0, lam).astype(lam.dtype)))

    branch = jnp.max(jnp.where(lam > 10.0, 2, first >> 1))
    return jax.lax.switch(branch, (at_most_one, lambda _: inversion(lam), with_large_means),
                          first)


def _poisson_large(key, lam, cells):
    r"""Poisson counts with means ``lam`` for the ``cells`` (a mask; their means ≥ 10) by
    Hörmann's transformed rejection with squeeze (PTRS: W. Hörmann, "The transformed
    rejection method for generating Poisson random variables", Insurance: Mathematics and
    Economics 12, 39–45, 1993); the other cells' counts are 0.

    With :math:`b = 0.931 + 2.53\sqrt{λ}`, :math:`a = -0.059 + 0.02483\,b`,
    :math:`1/α = 1.1239 + 1.1328/(b - 3.4)` and :math:`v_r = 0.9277 - 3.6224/(b - 2)`, a
    round draws :math:`U` uniform on :math:`[-½, ½)` and :math:`V` on :math:`[0, 1)`, sets
    :math:`u_s = ½ - |U|` and :math:`k = ⌊(2a/u_s + b)\,U + λ + 0.43⌋`, and accepts
    :math:`k` if :math:`u_s ≥ 0.07` and :math:`V ≤ v_r` (the squeeze), or else if
    :math:`k ≥ 0`, not (:math:`u_s < 0.013` and :math:`V > u_s`), and

    .. math:: \log\frac{V/α}{a/u_s^2 + b} ≤ -λ + k \log λ - \log k!

    A cell not accepted draws again in the next round. Round ``r`` draws ``U`` and ``V``
    under the keys of counters ``(r, 1)`` and ``(r, 2)`` under the step's key (the step's
    own uniforms use ``(i, 0)`` under the key itself): a count depends only on (seed, stream,
    step, cell)."""
    dtype = lam.dtype
    lam = jnp.where(cells, lam, 10.0).astype(dtype)       # any valid mean: never accepted
    b = 0.931 + 2.53 * jnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    log_lam = jnp.log(lam)

    def draw(r, word):
        round_key = jnp.stack(counter_rng.threefry2x32(key, r, np.uint32(word)))
        return counter_rng.uniform(round_key, lam.shape[0], dtype)

    def another(c):
        return ~jnp.all(c[2])

    def round_(c):
        r, k, done = c
        U, V = draw(r, 1) - 0.5, draw(r, 2)
        u_s = 0.5 - jnp.abs(U)
        candidate = jnp.floor((2.0 * a / u_s + b) * U + lam + 0.43)
        squeezed = (u_s >= 0.07) & (V <= v_r)
        excluded = (candidate < 0.0) | ((u_s < 0.013) & (V > u_s))
        count = jnp.maximum(candidate, 0.0)
        below = (jnp.log(V * inv_alpha / (a / (u_s * u_s) + b))
                 <= -lam + count * log_lam - jax.lax.lgamma(count + 1.0))
        accept = ~done & (squeezed | (~excluded & below))
        return r + np.uint32(1), jnp.where(accept, count, k), done | accept

    _, k, _ = jax.lax.while_loop(another, round_, (np.uint32(0), jnp.zeros_like(lam),
                                                   ~cells))
    return k.astype(jnp.int32)


def _poisson_generate(key, t, params, state):
    active = (t > params["start"]) & (t <= params["stop"])
    return jnp.where(active, _poisson_counts(key, params["lam"]), 0), state


def PoissonGroup(size: int, rate, start, stop, dt: float,
                 precise: bool = False) -> GeneratorGroup:
    """Poisson sources: per-cell rate (Hz), active for spike times in ``(start, stop]`` (ms);
    ``precise``: spike times off the grid."""
    params = {"lam": np.broadcast_to(np.asarray(rate, float) * dt / 1000.0, (size,)),
              "start": np.broadcast_to(np.asarray(start, float), (size,)),
              "stop": np.broadcast_to(np.asarray(stop, float), (size,))}
    return GeneratorGroup(size, _poisson_generate, params, precise=precise)


@dataclass
class Synapses:
    """Connections from group ``pre`` to input ``label`` of group ``post``.

    ``weight`` is in the target model's delta-input unit; ``delay`` in whole steps (>= 1).
    Without ``dynamics`` they are static and delivered event-driven (CSR). With it they are
    plastic or stochastic and updated every step over all connections:

    * ``dynamics.params``: dict of per-connection (or scalar) arrays, arguments of the
      compiled step (may change between runs without recompiling);
    * ``dynamics.initial_state(weight, n_pre, n_post)``: a dict of arrays with the
      connections' (and, if needed, the neurons') state, including ``"weight"``; an optional
      ``dynamics.initial_values`` dict replaces some of them (per connection);
    * ``dynamics.step(state, params, pre, post, pre_idx, post_idx, t, key) ->
      (state, transmitted)``: ``pre`` (n_pre,) and ``post`` (n_post,) are the spike counts
      of step ``m`` (spike time ``t = (m+1)·dt``), ``key`` a PRNG key of this step and
      record; ``transmitted`` (n_connections,) is what each connection delivers for the
      spikes of this step, arriving ``delay`` steps later like a static weight.
    """
    pre: int
    post: int
    label: str
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    dynamics: Optional[object] = None


@dataclass
class CurrentInput:
    """A current into cells ``targets`` of group ``post``: ``amplitude(times)`` gives the
    current (model units, e.g. pA) in effect from each time (ms) on."""
    post: int
    targets: np.ndarray
    amplitude: Callable[[np.ndarray], np.ndarray]


@dataclass
class Probe:
    """Record ``variable`` ('spikes' or a model recordable) of ``indices`` of ``group``."""
    group: int
    variable: str
    indices: np.ndarray


def _as_slice(indices: np.ndarray) -> Optional[slice]:
    """``indices`` as a slice where they are one ascending run of cells (every cell of a
    group, or of one population in a shared group), else None."""
    indices = np.asarray(indices, np.int64)
    if indices.size and np.array_equal(indices, indices[0] + np.arange(indices.size)):
        return slice(int(indices[0]), int(indices[0]) + indices.size)
    return None


def _picker(indices: np.ndarray) -> Callable:
    """``v -> v[indices]`` for a probe: a slice where :func:`_as_slice` finds one, else a
    gather (which took ~3 µs per step for 3200 recorded cells of 4000 on the CPU,
    ``benchmarks/step_profile.py``)."""
    cells = _as_slice(indices)
    indices = np.asarray(indices, np.int64)
    return (lambda v: v[cells]) if cells is not None else (lambda v: v[indices])


@dataclass
class _Recording:
    """One buffer of a chunk's records: the probes of one (group, variable) whose cells are
    neighbouring ascending runs (the populations of a shared group, each recorded whole) are
    one ``probe`` over all their cells, written once per step instead of once each; probe
    ``j`` of :meth:`Network.set_probes` is then the columns ``start:stop`` (``parts``:
    ``(j, start, stop)``)."""
    probe: Probe
    parts: List[tuple]


def _recordings(probes: Sequence[Probe]) -> List[_Recording]:
    """The buffers for ``probes``: a probe of an ascending run of cells that starts where an
    earlier probe's run of the same group and variable ends joins that one's buffer."""
    out: List[_Recording] = []
    for j, p in enumerate(probes):
        indices = np.asarray(p.indices, np.int64)
        cells = _as_slice(indices)
        before = next((r for r in out if cells is not None
                       and (r.probe.group, r.probe.variable) == (p.group, p.variable)
                       and _as_slice(r.probe.indices) is not None
                       and int(r.probe.indices[-1]) == cells.start - 1), None)
        if before is None:
            out.append(_Recording(Probe(p.group, p.variable, indices), [(j, 0, indices.size)]))
            continue
        start = len(before.probe.indices)
        before.probe = Probe(p.group, p.variable,
                             np.concatenate([before.probe.indices, indices]))
        before.parts.append((j, start, start + indices.size))
    return out


def _columns(records, start: int, stop: int, width: int):
    """Columns ``start:stop`` of a chunk's records of ``width`` cells: spikes as (steps,
    cells) events or an array with the cells on axis 1."""
    if start == 0 and stop == width:
        return records
    if isinstance(records, tuple):
        rows, cols = records
        keep = (cols >= start) & (cols < stop)
        return rows[keep], cols[keep] - start
    return records[:, start:stop]


@dataclass
class _Block:
    """The static Synapses records of all sending groups as one CSR matrix: the rows are the
    senders' cells one group after the other (in the order of ``senders``), the columns the
    positions of the flat ring buffer (``delay · width + column``, see
    :func:`.event_product.deliver_into_ring`), so a step makes one sparse product whatever
    the number of senders, targets and delays (each product is a kernel call with a fixed
    cost: one call instead of one per sender saved ~85 µs per step in
    benchmarks/network_breakdown.py's recurrent row when the calls went to brainevent).

    Inside a row, the entries aimed at ring columns below ``split`` come first, those from
    it on after (the two parts of :mod:`._ring_worker`'s batches, which may be added by
    different threads), each part in increasing positions: a sender's events then go
    through the ring in increasing addresses (delay rows one after the other, columns
    increasing), so neighbouring events share cache lines. Each ring position's sum keeps
    its order of terms (senders in row order, a sender's equal positions in the given
    order), so the sums are those of any other order within rows, bit for bit. ``split`` is
    the median column of the connections (even parts).

    ``order`` maps CSR entries to positions in the ``members``' (Synapses indices)
    concatenated connection arrays, so new weights can be put in without rebuilding."""
    senders: List[int]
    members: List[int]
    order: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    split: int


def _init_state_in_place(model) -> bool:
    """``model.init_state()``, keeping the model's State objects (their values replaced).

    A compiled chunk function reads and writes the State objects it saw when it was traced,
    but ``init_state`` makes new ones: after a reset the compiled function would go on from
    the old states (found by tests/pynn/test_recording.py: reset() did not reproduce the
    first run). So the fresh values are copied into the old objects, which are put back.
    Returns False if that was not possible (then the caller must retrace)."""
    before = dict(model.states())
    model.init_state()
    ok = True
    for path, new in model.states().items():
        old = before.get(path)
        if old is None or old is new:
            ok = ok and old is new
            continue
        try:
            if type(old) is not type(new) or jax.tree.structure(old.value) != \
                    jax.tree.structure(new.value) or any(
                    np.shape(a) != np.shape(b) for a, b in zip(
                        jax.tree.leaves(old.value), jax.tree.leaves(new.value))):
                raise ValueError(path)
            old.value = new.value
            owner = model
            for key in path[:-1]:
                owner = owner[key] if isinstance(key, int) else getattr(owner, key)
            setattr(owner, path[-1], old)
        except Exception:          # noqa: BLE001 -- keep the new states, retrace instead
            ok = False
    return ok


@functools.partial(jax.jit, static_argnums=1)
def _nonzero(buffer, size):
    return jnp.nonzero(buffer, size=size)


#: The most spikes recorded per source cell and step (the records are uint8 counts).
_MAX_COUNT = 255


def _spike_events(buffer, n):
    """(rows, columns) of the spikes in the first ``n`` rows of a chunk's buffer: booleans,
    or counts (a source cell's event repeated as often as it fired in that step).

    Off the CPU the buffer is compacted on the device, so only the events cross to the host,
    not the whole (steps × cells) buffer (with 1e5 cells recorded on a GPU, copying and
    scanning the dense buffer on the host doubled the run time). Rows from ``n`` on were never
    written, so they hold no spikes.
    """
    if next(iter(buffer.devices())).platform == "cpu":
        host = np.asarray(buffer)[:n]
        rows, cols = sparse_nonzero(host)
    else:
        rows, cols = _compact_on_device(buffer)
        host = None
    if buffer.dtype == jnp.uint8:
        counts = (host[rows, cols] if host is not None
                  else np.asarray(buffer[jnp.asarray(rows), jnp.asarray(cols)]))
        if rows.size and counts.max() > 1:
            rows, cols = np.repeat(rows, counts), np.repeat(cols, counts)
    return rows, cols


def sparse_nonzero(mask: np.ndarray):
    """``np.nonzero`` of a 2-d boolean array that is mostly False, in the same order: the
    bytes are looked at 64 at a time (:func:`.native.nonzero_bytes`; with NumPy's
    ``nonzero`` on the chunks of the GLIF network, Python's thread took 7.9 instead of 4.7 µs
    per simulated step, ``benchmarks/thread_profile.py``, session 14)."""
    flat = np.ascontiguousarray(mask).reshape(-1).view(np.uint8)
    warmup.wait_for("nonzero")
    at = nonzero_bytes(flat)
    return np.divmod(at, mask.shape[1]) if mask.shape[1] else (at, at)


def _compact_on_device(buffer):
    """``np.nonzero(buffer)`` computed where ``buffer`` lives; the events come back."""
    total = int(jnp.count_nonzero(buffer))
    rows, cols = _nonzero(buffer, _next_pow2(max(total, 1)))   # few distinct sizes compile
    return np.asarray(rows)[:total], np.asarray(cols)[:total]


def _zeros(n: int, dtype) -> jax.Array:
    """``n`` zeros on the device, made on the host (``jnp.zeros`` compiles an XLA computation
    per size and type; ``jax.device_put`` of a NumPy array compiles none)."""
    return jax.device_put(np.zeros(n, dtype))


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


class Network:
    """Groups, synapses, currents and probes, run chunk by chunk with a compiled scan."""

    def __init__(self, groups: Sequence, synapses: Sequence[Synapses],
                 currents: Sequence[CurrentInput], dt: float, seed: int = 0,
                 max_chunk: int = 4096, max_chunk_elements: int = 50_000_000,
                 gap_junctions: Sequence[gap.GapJunctions] = (),
                 streams: Optional[Sequence[int]] = None):
        self.groups = list(groups)
        # the number of each group's random stream (its index unless given)
        self.streams = list(range(len(self.groups)) if streams is None else streams)
        self.synapses = list(synapses)
        self.currents = list(currents)
        self.gap_junctions = list(gap_junctions)      # conductances may change between runs
        gap.check(self.gap_junctions, self.groups)
        self.probes: List[Probe] = []
        self._recordings: List[_Recording] = []
        self.dt = float(dt)
        self.seed = int(seed)
        self.max_chunk = int(max_chunk)
        self.max_chunk_elements = int(max_chunk_elements)
        self.step = 0
        self.dtype = brainstate.environ.dftype()
        self._precise_posts = {gi for gi, g in enumerate(self.groups)
                               if isinstance(g, NeuronGroup) and getattr(g.model, "PRECISE",
                                                                         False)}
        self._precise_inputs = precise.build_inputs(self.synapses, self.groups,
                                                    self._precise_posts)
        self._history_groups = sorted({inp.pre for inp in self._precise_inputs})
        for syn in self.synapses:
            if syn.delay.size and np.min(syn.delay) < 1:
                raise ValueError("Synaptic delays must be at least one time step.")
        self.ring_len = max([int(np.max(syn.delay)) for syn in self.synapses if syn.delay.size],
                            default=0) + 1
        self._inputs = sorted({(syn.post, syn.label) for syn in self.synapses
                               if syn.post not in self._precise_posts})
        # one ring buffer for all (target group, label) inputs, side by side
        widths = [self.groups[post].size for post, _ in self._inputs]
        self._ring_offset = dict(zip(self._inputs, np.cumsum([0] + widths[:-1]).tolist()))
        self._ring_width = int(sum(widths))
        if self.ring_len * self._ring_width >= 2 ** 30:   # positions + shift stay in int32
            raise ValueError(f"The ring buffer of {self.ring_len} x {self._ring_width} numbers "
                             "(maximum delay in steps + 1, cells with synaptic input) is too "
                             "large for int32 positions (at most 2**30 numbers).")
        self._block = self._build_block()
        self._static_on_device = None
        self._plastic = [i for i, syn in enumerate(self.synapses) if syn.dynamics is not None]
        self._ring_worker = self._may_use_ring_worker()
        # a step's row must be complete when it is taken out: the worker may have the
        # batches of the shortest delay minus one steps in flight
        self._ring_depth = max(1, min(self._shortest_static_delay() - 1,
                                      _ring_worker.MAX_DEPTH))
        self._compiled = {}
        for i, syn in enumerate(self.synapses):
            self.set_weights(i, syn.weight)
        self.reset()

    # ------------------------------------------------------------------ building
    def _build_block(self) -> Optional[_Block]:
        static = [i for i, syn in enumerate(self.synapses)
                  if syn.dynamics is None and syn.post not in self._precise_posts]
        if not static:
            return None
        senders = sorted({self.synapses[i].pre for i in static})
        sizes = [self.groups[g].size for g in senders]
        row_offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        first_row = dict(zip(senders, row_offsets))
        rows, positions = [], []
        for i in static:
            syn = self.synapses[i]
            rows.append(first_row[syn.pre] + np.asarray(syn.pre_idx, np.int64))
            positions.append(np.asarray(syn.delay, np.int64) * self._ring_width +
                             self._ring_offset[(syn.post, syn.label)] +
                             np.asarray(syn.post_idx, np.int64))
        rows, positions = np.concatenate(rows), np.concatenate(positions)
        counts = np.bincount(rows, minlength=int(sum(sizes)))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        columns = positions % self._ring_width
        split = int(np.median(columns)) if columns.size else 0
        # positions < 2**30 (checked above): the part goes into bit 30 of the key
        keys = positions + ((columns >= split).astype(np.int64) << 30)
        del columns
        warmup.wait_for("order")
        order, ordered = order_by_row_then_key(rows, keys, indptr)
        return _Block(senders, static, order, (ordered & ((1 << 30) - 1)).astype(np.int32),
                      indptr, split)

    def _may_use_ring_worker(self) -> bool:
        """Whether the static delivery goes to the ring worker (:mod:`._ring_worker`): on
        the CPU, where only the static block writes into the ring and every delay is at least
        2 steps (so a step's events are not needed before the next step has run)."""
        if self._plastic:
            return False
        # asked last: it compiles the worker's handlers (seconds, once per cache)
        return self._shortest_static_delay() >= 2 and worker_available(self.dtype)

    def _shortest_static_delay(self) -> int:
        """The static block's shortest delay in steps (0 without static connections)."""
        members = () if self._block is None else self._block.members
        return min((int(np.min(self.synapses[i].delay)) for i in members
                    if self.synapses[i].delay.size), default=0)

    def set_weights(self, index: int, weight: np.ndarray):
        """New weights for Synapses ``index`` (same connections); no recompilation."""
        w = np.broadcast_to(np.asarray(weight, np.float64), self.synapses[index].pre_idx.shape)
        self.synapses[index].weight = w
        self._static_on_device = None
        if self.synapses[index].dynamics is not None and hasattr(self, "_carry"):
            state = dict(self._carry["plastic"][index])
            state["weight"] = jnp.asarray(w, self.dtype)
            self._carry["plastic"][index] = state

    def synapse_state(self, index: int) -> dict:
        """The current state of plastic Synapses ``index`` (host arrays, model units)."""
        return {k: np.asarray(v) for k, v in self._carry["plastic"][index].items()}

    def set_probes(self, probes: Sequence[Probe]):
        """What to record from the next run on (recompiles once per new probe set)."""
        self.probes = list(probes)
        self._recordings = _recordings(self.probes)

    def reset(self):
        """Back to step 0: fresh model states, empty spike buffers."""
        self.step = 0
        for g in self.groups:
            if isinstance(g, NeuronGroup):
                if not _init_state_in_place(g.model):
                    self._compiled.clear()      # could not keep the states: retrace
        self._carry = {
            # row s: what arrives at the end of the steps = s mod L; row (step mod L) is
            # always empty, its content taken out into "arriving" at the end of the last step
            "ring": _zeros(self.ring_len * self._ring_width, self.dtype),   # flat
            "arriving": _zeros(self._ring_width, self.dtype),
            "generators": {gi: g.initial_state for gi, g in enumerate(self.groups)
                           if isinstance(g, GeneratorGroup)},
            "plastic": {i: self._initial_synapse_state(i) for i in self._plastic},
            "history": {gi: self._empty_history(gi, self._slots(gi))
                        for gi in self._history_groups},
            "overflow": jax.device_put(np.False_), "count_overflow": jax.device_put(np.False_)}

    # ------------------------------------------------------------------ precise spikes
    def _is_precise(self, gi) -> bool:
        """Whether group ``gi`` emits spikes with offsets inside their step."""
        g = self.groups[gi]
        if isinstance(g, NeuronGroup):
            return gi in self._precise_posts
        if isinstance(g, SpikeArrayGroup):
            return g.offsets is not None
        return g.precise

    def _slots(self, gi) -> int:
        """Spikes per cell and step group ``gi`` hands over with offsets."""
        g = self.groups[gi]
        if isinstance(g, SpikeArrayGroup) and g.offsets is not None:
            return precise.array_slots(g.steps)
        if isinstance(g, GeneratorGroup) and g.precise:
            return precise.poisson_slots(g.params["lam"])
        return 1

    def _empty_history(self, gi, slots):
        shape = (self.ring_len, self.groups[gi].size, slots)
        return (jnp.full(shape, jnp.nan, self.dtype), jnp.zeros(shape, self.dtype))

    def _fit_history(self):
        """Widen the senders' histories if their spikes per step grew since the last run."""
        for gi, (off, mult) in self._carry["history"].items():
            grow = self._slots(gi) - off.shape[2]
            if grow > 0:
                pad = ((0, 0), (0, 0), (0, grow))
                self._carry["history"][gi] = (jnp.pad(off, pad, constant_values=jnp.nan),
                                              jnp.pad(mult, pad))

    def _initial_synapse_state(self, index):
        syn = self.synapses[index]
        state = syn.dynamics.initial_state(np.asarray(syn.weight, np.float64),
                                           self.groups[syn.pre].size,
                                           self.groups[syn.post].size)
        for name, values in getattr(syn.dynamics, "initial_values", {}).items():
            if name not in state:
                raise KeyError(f"synapse dynamics {type(syn.dynamics).__name__} have no "
                               f"state {name!r}; they have {sorted(state)}.")
            state[name] = np.asarray(values, np.asarray(state[name]).dtype)
        return {k: jnp.asarray(v, jnp.int32 if np.asarray(v).dtype.kind in "iu" else
                               (bool if np.asarray(v).dtype == bool else self.dtype))
                for k, v in state.items()}

    def load_initial_currents(self):
        """Put the currents in effect at the current time into the models (call after the
        model states are set: a current switched on at ``t`` drives the step after ``t``)."""
        t = np.array([self.step * self.dt])
        for gi, g in enumerate(self.groups):
            if isinstance(g, NeuronGroup):
                cur = self._currents_for(gi, t)
                if cur is not None:
                    g.model.I_stim.value = jnp.asarray(cur[0], self.dtype).reshape(
                        g.model.I_stim.value.shape)

    def _currents_for(self, gi, times):
        """(len(times), size) summed currents into group ``gi`` in effect from ``times``."""
        mine = [c for c in self.currents if c.post == gi]
        if not mine:
            return None
        out = np.zeros((len(times), self.groups[gi].size))
        for c in mine:
            amp = np.asarray(c.amplitude(times), float)
            np.add.at(out, (slice(None), c.targets), amp[:, None])
        return out

    # ------------------------------------------------------------------ running
    def _arguments(self):
        """The arguments of this run's chunks: the static connections' weights and ring
        positions, source and synapse parameters, the plastic synapses' connection arrays."""
        weights, positions = self._static_arguments()
        plastic = {i: {k: jnp.asarray(v, self.dtype)
                       for k, v in self.synapses[i].dynamics.params.items()}
                   for i in self._plastic}
        generators = {gi: {k: jax.device_put(np.asarray(v, self.dtype))
                           for k, v in g.params.items()}
                      for gi, g in enumerate(self.groups) if isinstance(g, GeneratorGroup)}
        return {"weights": weights, "positions": positions, "generators": generators,
                "gap": gap.arguments(self.gap_junctions, self.dtype),
                "precise": [precise.input_weights(inp, self.synapses, self.dtype)
                            for inp in self._precise_inputs],
                "plastic": plastic, "plastic_structure": {
                    i: tuple(jnp.asarray(a, jnp.int32) for a in (
                        self.synapses[i].pre_idx, self.synapses[i].post_idx,
                        self.synapses[i].delay)) for i in self._plastic}}

    def _static_arguments(self):
        """The static connections' weights (in the block's order) and ring positions on the
        device, kept from run to run until weights change (for millions of connections their
        ordering and copy are not free, and a script may call ``run`` many times)."""
        b = self._block
        if b is None:
            return None, None
        if self._static_on_device is None:
            weights = np.concatenate([self.synapses[i].weight for i in b.members])[b.order]
            self._static_on_device = (jax.device_put(weights.astype(self.dtype)),
                                      jax.device_put(b.indices))
        return self._static_on_device

    def _step_fn(self, args):
        groups, block = self.groups, self._block
        probes = [r.probe for r in self._recordings]
        dt, dtype, ring_len = self.dt, self.dtype, self.ring_len
        base_key = jax.random.PRNGKey(self.seed)
        # the product is planned from the concrete indptr (n_pre + 1 numbers); the ring
        # positions (one per connection) are arguments, not constants: millions of constants
        # in the program make XLA's compilation slow.
        picks = [_picker(p.indices) for p in probes]
        synapses, plastic, gap_junctions = self.synapses, self._plastic, self.gap_junctions
        plastic_structure = args["plastic_structure"]
        # one stream per plastic projection and precise source (keys made here, outside the
        # step loop; the generator groups' in _group_keys); the key of a step is derived
        # with counter_rng
        synapse_key = jax.random.fold_in(base_key, 1 << 20)
        synapse_keys = {i: jax.random.fold_in(synapse_key, i) for i in self._plastic}
        offset_key = jax.random.fold_in(base_key, 1 << 21)
        offset_keys = [jax.random.fold_in(offset_key, stream) for stream in self.streams]
        precise_inputs = self._precise_inputs
        precise_groups = {gi: self._slots(gi) for gi in range(len(groups))
                          if self._is_precise(gi)}

        ring_offset, ring_width = self._ring_offset, self._ring_width

        def deliver(arriving):
            """Hand over what arrives at the end of this step."""
            for (post, label), start in ring_offset.items():
                groups[post].model.add_delta_input(
                    f"synapses:{label}", arriving[start:start + groups[post].size],
                    label=label)

        def send_plastic(ring, states, spikes, m):
            """Plastic and stochastic synapses: every connection updated, then delivered."""
            t = (m + 1).astype(dtype) * dt
            states = dict(states)
            for i in plastic:
                syn = synapses[i]
                pre_idx, post_idx, delay = plastic_structure[i]
                post_spikes = spikes.get(syn.post)
                key = counter_rng.step_key(synapse_keys[i], m)
                states[i], transmitted = syn.dynamics.step(
                    states[i], args["plastic"][i], spikes[syn.pre], post_spikes, pre_idx,
                    post_idx, t, key)
                slot = (m + delay) % ring_len
                ring = ring.at[slot * ring_width + ring_offset[(syn.post, syn.label)] +
                               post_idx].add(transmitted.astype(dtype))
            return ring, states

        def send(ring, spikes, m):
            """Spikes of step ``m`` into the ring buffer (one sparse product), then the next
            step's arrivals taken out: ``(ring, arriving)``."""
            if block is None:                       # plastic connections only
                first = ((m + 1) % ring_len) * ring_width
                return (jax.lax.dynamic_update_slice(ring, jnp.zeros(ring_width, dtype),
                                                     (first,)),
                        jax.lax.dynamic_slice(ring, (first,), (ring_width,)))
            sent = jnp.concatenate([spikes[g].astype(dtype) for g in block.senders])
            repeats = not all(isinstance(groups[g], NeuronGroup) for g in block.senders)
            return deliver_into_ring(sent, args["weights"], args["positions"], block.indptr,
                                     m, ring, ring_len, repeats, worker=self._ring_worker)

        def generate(gi, m, key, state):
            t = (m + 1).astype(dtype) * dt
            counts, state = groups[gi].generate(key, t, args["generators"][gi], state)
            return counts.astype(dtype), state

        def deliver_precise(history, m):
            """Hand the precise targets the events of step ``m`` with their offsets."""
            for k, inp in enumerate(precise_inputs):
                off, w = precise.gather_events(history[inp.pre], inp, args["precise"][k], m,
                                               ring_len)
                groups[inp.post].model.add_precise_input(f"synapses:{inp.pre}", off, w)

        def remember(history, spikes, offsets, m):
            """Step ``m``'s spikes into the histories of the senders to precise targets."""
            history = dict(history)
            for gi, (off, mult) in history.items():
                entry = precise.history_entry(spikes[gi], offsets.get(gi), off.shape[2], dtype)
                history[gi] = (off.at[m % ring_len].set(entry[0]),
                               mult.at[m % ring_len].set(entry[1]))
            return history

        def step(carry, x):
            m = x["step"]
            deliver(carry["arriving"])
            deliver_precise(carry["history"], m)
            gen_states = dict(carry["generators"])
            spikes, offsets, overflow = {}, {}, carry["overflow"]
            # gap currents from every V at the end of the last step, into this step's I_stim
            # (update replaces I_stim at its end: nothing carries over)
            gap.add_gap_currents(gap_junctions, args["gap"], groups, dtype)
            for gi, g in enumerate(groups):
                if isinstance(g, NeuronGroup):
                    spikes[gi] = g.model.update(x["current"].get(gi, 0.0)).reshape(-1)
                    if gi in precise_groups:
                        offsets[gi] = g.model.recordable("spike_offset").reshape(-1, 1)
                elif isinstance(g, SpikeArrayGroup):
                    spikes[gi] = x["source"][gi]
                    if gi in precise_groups:
                        offsets[gi] = x["source_offsets"][gi]
                else:
                    spikes[gi], gen_states[gi] = generate(gi, m, x["keys"][gi],
                                                          gen_states[gi])
                    if gi in precise_groups:
                        key = counter_rng.step_key(offset_keys[gi], m)
                        offsets[gi], more = precise.poisson_offsets(
                            key, spikes[gi], precise_groups[gi], dt, dtype)
                        overflow = overflow | more
            # plastic deliveries first: send takes the next step's slot out of the ring
            ring, plastic_states = send_plastic(carry["ring"], carry["plastic"], spikes, m)
            ring, arriving = send(ring, spikes, m)
            count_overflow = carry["count_overflow"]
            rec = []
            for p, pick in zip(probes, picks):
                if p.variable != "spikes":
                    value = pick(groups[p.group].model.recordable(p.variable).reshape(-1))
                    value = value.astype(dtype)
                elif p.group in precise_groups:
                    value = pick(offsets[p.group])      # (n, slots): the spike times
                elif isinstance(groups[p.group], NeuronGroup):
                    value = pick(spikes[p.group]) > 0
                else:
                    # a source's spike count: two spikes of a cell in one step are two
                    # records, as NEST records a spike of multiplicity 2 twice
                    value = pick(spikes[p.group])
                    count_overflow = count_overflow | jnp.any(value > _MAX_COUNT)
                    value = value.astype(jnp.uint8)
                rec.append(value)
            carry = {"ring": ring, "arriving": arriving, "generators": gen_states,
                     "plastic": plastic_states,
                     "history": remember(carry["history"], spikes, offsets, m),
                     "overflow": overflow, "count_overflow": count_overflow}
            return carry, rec

        return step

    def _group_keys(self):
        """Each group's random stream (the generator groups draw from theirs)."""
        base_key = jax.random.PRNGKey(self.seed)
        return [jax.random.fold_in(base_key, stream) for stream in self.streams]

    def _is_event_probe(self, probe):
        """Spikes of a group on the grid: handed over as (step, cell) events."""
        return probe.variable == "spikes" and not self._is_precise(probe.group)

    def _probe_buffer(self, probe, length):
        """Where a chunk's records of ``probe`` go: spikes as booleans (neurons) or counts
        (uint8, sources), or for a precise group as their offsets (NaN: none); signals in the
        network's dtype."""
        shape = (length, len(probe.indices))
        if probe.variable != "spikes":
            return jnp.zeros(shape, self.dtype)
        if self._is_precise(probe.group):
            return jnp.full(shape + (self._slots(probe.group),), jnp.nan, self.dtype)
        if isinstance(self.groups[probe.group], NeuronGroup):
            return jnp.zeros(shape, bool)
        return jnp.zeros(shape, jnp.uint8)

    def _compile(self):
        probes = [r.probe for r in self._recordings]

        @brainstate.transform.jit
        def run_chunk(carry, args, xs, n):
            """``n`` (<= the chunk length) steps of ``xs``; a while loop with a dynamic trip
            count writes each step's records into preallocated buffers, so a short last
            chunk costs only its own steps and reuses the same compiled function."""
            step = self._step_fn(args)
            length = xs["step"].shape[0]
            # the generator groups' step keys (counter_rng.step_key), all the chunk's at
            # once: in the step loop they cost three scalar XLA operations per step
            xs = dict(xs, keys={
                gi: jax.vmap(lambda m, key=key: counter_rng.step_key(key, m))(xs["step"])
                for gi, key in enumerate(self._group_keys())
                if isinstance(self.groups[gi], GeneratorGroup)})
            buffers = [self._probe_buffer(p, length) for p in probes]

            def body(loop):
                i, carry, buffers = loop
                x = jax.tree.map(lambda a: a[i], xs)
                carry, rec = step(carry, x)
                # i < n <= length: an update in place, without the bounds test (a compare,
                # a reduction and a select per probe and step) that ``.at[i].set`` adds
                buffers = [jax.lax.dynamic_update_index_in_dim(b, r.astype(b.dtype), i, 0)
                           for b, r in zip(buffers, rec)]
                return i + 1, carry, buffers

            _, carry, buffers = brainstate.transform.while_loop(
                lambda loop: loop[0] < n, body, (jnp.asarray(0, jnp.int32), carry, buffers))
            if self._ring_worker:
                carry = dict(carry, ring=join_ring(carry["ring"]))
            return carry, buffers
        return run_chunk

    def _source_spikes(self, gi, m0, n, length):
        """(length, size) spike counts of a SpikeArrayGroup for steps m0 .. m0+n-1."""
        g = self.groups[gi]
        steps = np.concatenate([np.asarray(s, np.int64) for s in g.steps] or [np.zeros(0, int)])
        cells = np.repeat(np.arange(g.size), [len(s) for s in g.steps])
        now = (steps >= m0) & (steps < m0 + n)
        out = np.zeros((length, g.size), np.float32)
        np.add.at(out, (steps[now] - m0, cells[now]), 1.0)
        return out

    def _source_offsets(self, gi, m0, n, length):
        """(length, size, slots) offsets of a precise SpikeArrayGroup's spikes in steps
        m0 .. m0+n-1, NaN in unused slots."""
        g = self.groups[gi]
        steps = np.concatenate([np.asarray(s, np.int64) for s in g.steps] or [np.zeros(0, int)])
        offsets = np.concatenate([np.asarray(o, np.float64) for o in g.offsets]
                                 or [np.zeros(0)])
        cells = np.repeat(np.arange(g.size), [len(s) for s in g.steps])
        now = (steps >= m0) & (steps < m0 + n)
        steps, cells, offsets = steps[now], cells[now], offsets[now]
        # slot of each spike: its rank among the spikes of the same (cell, step)
        key = steps * g.size + cells
        order = np.argsort(key, kind="stable")
        first = np.searchsorted(key[order], key[order])
        slot = np.empty_like(order)
        slot[order] = np.arange(order.size) - first
        out = np.full((length, g.size, self._slots(gi)), np.nan)
        out[steps - m0, cells, slot] = offsets
        return out

    def _chunk_len(self, n_steps):
        per_step = sum(len(p.indices) for p in self.probes) + sum(
            g.size for gi, g in enumerate(self.groups)
            if isinstance(g, SpikeArrayGroup) or any(c.post == gi for c in self.currents))
        limit = max(1, min(self.max_chunk, self.max_chunk_elements // max(per_step, 1)))
        limit = 1 << (limit.bit_length() - 1)        # a power of two
        return min(_next_pow2(n_steps), limit)

    def _check_finite(self):
        for g in self.groups:
            if isinstance(g, NeuronGroup) and hasattr(g.model, "check_finite"):
                g.model.check_finite()

    def run(self, n_steps: int,
            on_chunk: Optional[Callable[[int, int, List[np.ndarray]], None]] = None):
        """Advance ``n_steps``. After every chunk ``on_chunk(m0, n, records)`` receives the first
        step of the chunk, its number of steps and per probe: for spikes the pair ``(steps,
        cells)`` of the chunk's spikes (step relative to ``m0``, position in the probe's
        indices), in step order, or ``(n, len(indices), slots)`` spike offsets for a precise
        group; for a signal an ``(n, len(indices))`` array. A model that
        diverges raises ``FloatingPointError`` after the chunk in which it happened has been
        handed over; so does a precise Poisson source that ran out of room (RuntimeError)."""
        key = (tuple((p.group, p.variable, tuple(np.asarray(p.indices).tolist()))
                     for p in self.probes),
               tuple(g.model.signature() for g in self.groups
                     if isinstance(g, NeuronGroup) and hasattr(g.model, "signature")),
               tuple(self._slots(gi) for gi in range(len(self.groups))
                     if self._is_precise(gi)))
        self._fit_history()
        args = self._arguments()
        done = 0
        # One chunk length for the whole run: the last chunk is padded with idle steps
        # rather than compiled again for its own length.
        length = self._chunk_len(n_steps)
        while done < n_steps:
            n = min(n_steps - done, length)
            if (key, length) not in self._compiled:
                self._compiled[(key, length)] = self._compile()
            m0 = self.step
            steps = np.arange(m0, m0 + length)
            xs = {"step": jax.device_put(steps.astype(np.int32)), "current": {}, "source": {}}
            for gi, g in enumerate(self.groups):
                if isinstance(g, NeuronGroup):
                    cur = self._currents_for(gi, (steps + 1) * self.dt)
                    if cur is not None:
                        xs["current"][gi] = jnp.asarray(cur, self.dtype)
                elif isinstance(g, SpikeArrayGroup):
                    xs["source"][gi] = jnp.asarray(self._source_spikes(gi, m0, n, length))
                    if g.offsets is not None:
                        xs.setdefault("source_offsets", {})[gi] = jnp.asarray(
                            self._source_offsets(gi, m0, n, length), self.dtype)
            worker = (_ring_worker.turn(self._block.indptr.size - 1, self._ring_depth,
                                        self._block.split)
                      if self._ring_worker else contextlib.nullcontext())
            with worker:
                self._carry, rec = self._compiled[(key, length)](self._carry, args, xs,
                                                                 np.int32(n))
                jax.block_until_ready(self._carry["ring"])
            native.check_compiled()      # a handler or loop compiled meanwhile failed
            self.step += n
            done += n
            if bool(self._carry["count_overflow"]):
                raise RuntimeError(
                    f"A spike source emitted more than {_MAX_COUNT} spikes in one step from one "
                    "cell; recording keeps at most that many per cell and step, so the run "
                    "stopped rather than record fewer.")
            if on_chunk is not None:
                records = [None] * len(self.probes)
                for recording, r in zip(self._recordings, rec):
                    p = recording.probe
                    whole = (_spike_events(r, n) if self._is_event_probe(p) else
                             np.asarray(r)[:n])
                    for j, start, stop in recording.parts:
                        records[j] = _columns(whole, start, stop, len(p.indices))
                on_chunk(m0, n, records)
            if self._ring_worker:
                _ring_worker.check()
            self._check_finite()
            if bool(self._carry["overflow"]):
                raise RuntimeError(
                    "A precise Poisson source emitted more spikes in one step than the engine "
                    "keeps room for (it sizes the room so that this has a probability below "
                    f"{precise.POISSON_TAIL:g} per cell and step); the run stopped rather than "
                    "drop spike times.")
