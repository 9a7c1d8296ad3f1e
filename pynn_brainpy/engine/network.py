"""A network of brainstate models and spike sources, compiled into one scanned step function.

The PyNN layer describes a network with the plain records below and the engine runs it. Nothing
here knows PyNN.

Timing is NEST's (spec §6, §8). Step ``m`` covers ``(m·dt, (m+1)·dt]``; a spike found in step
``m`` has the time ``(m+1)·dt``. Over a connection of ``D`` steps it reaches the target as a
delta input at the end of step ``m + D``. Every sending group's spikes of step ``m`` go into a
ring buffer of ``max(D) + 1`` slots; in step ``m`` each (synapses, delay) block reads slot
``m − D`` and multiplies it with its CSR matrix, event-driven: the cost is spikes × fan-out.
A spike source fires in step ``m`` for a spike time ``(m+1)·dt``.

External currents are given per step: the value passed with step ``m`` is what the neuron sees
from step ``m+1`` on, so a current switched on at time ``t`` is passed with step ``t/dt − 1``
and a value at ``t = 0`` is loaded into the model before the first step.

Values that may change between runs (weights, Poisson rates, model constants held in
``LongTermState`` s, currents, source spikes) are arguments of the compiled chunk function, so
changing them does not recompile. A chunk has a fixed length (a power of two up to
``max_chunk``); steps past the end of a run are skipped with ``lax.cond``, so runs of any
length reuse the same compiled function.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import brainevent
import brainstate
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["NeuronGroup", "SpikeArrayGroup", "PoissonGroup", "Synapses", "CurrentInput",
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
    (a spike at time ``t`` is emitted in step ``t/dt − 1``)."""
    size: int
    steps: List[np.ndarray]


@dataclass
class PoissonGroup:
    """Poisson sources: per-cell rate (Hz), active for spike times in ``(start, stop]`` (ms)."""
    size: int
    rate: np.ndarray
    start: np.ndarray
    stop: np.ndarray


@dataclass
class Synapses:
    """Static connections from group ``pre`` to input ``label`` of group ``post``.

    ``weight`` is in the target model's delta-input unit; ``delay`` in whole steps (>= 1).
    """
    pre: int
    post: int
    label: str
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weight: np.ndarray
    delay: np.ndarray


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


@dataclass
class _Block:
    """The connections of one Synapses record with one delay, as a CSR (pre x post).

    ``order`` maps CSR entries to positions in the record's connection arrays, so new weights
    can be scattered in without rebuilding."""
    synapses: int
    pre: int
    post: int
    label: str
    delay: int
    order: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


class Network:
    """Groups, synapses, currents and probes, run chunk by chunk with a compiled scan."""

    def __init__(self, groups: Sequence, synapses: Sequence[Synapses],
                 currents: Sequence[CurrentInput], dt: float, seed: int = 0,
                 max_chunk: int = 4096, max_chunk_elements: int = 50_000_000):
        self.groups = list(groups)
        self.synapses = list(synapses)
        self.currents = list(currents)
        self.probes: List[Probe] = []
        self.dt = float(dt)
        self.seed = int(seed)
        self.max_chunk = int(max_chunk)
        self.max_chunk_elements = int(max_chunk_elements)
        self.step = 0
        self.dtype = brainstate.environ.dftype()
        self._blocks = self._build_blocks()
        self.ring_len = max([b.delay for b in self._blocks], default=0) + 1
        self._senders = sorted({b.pre for b in self._blocks})
        self._compiled = {}
        self._weights = [None] * len(self.synapses)
        for i, syn in enumerate(self.synapses):
            self.set_weights(i, syn.weight)
        self.reset()

    # ------------------------------------------------------------------ building
    def _build_blocks(self) -> List[_Block]:
        blocks = []
        for si, syn in enumerate(self.synapses):
            n_pre = self.groups[syn.pre].size
            delay = np.asarray(syn.delay, np.int64)
            if delay.size and delay.min() < 1:
                raise ValueError("Synaptic delays must be at least one time step.")
            for d in np.unique(delay):
                sel = np.flatnonzero(delay == d)
                order = sel[np.lexsort((syn.post_idx[sel], syn.pre_idx[sel]))]
                counts = np.bincount(syn.pre_idx[order], minlength=n_pre)
                indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
                blocks.append(_Block(si, syn.pre, syn.post, syn.label, int(d), order,
                                     syn.post_idx[order].astype(np.int32), indptr))
        return blocks

    def set_weights(self, index: int, weight: np.ndarray):
        """New weights for Synapses ``index`` (same connections); no recompilation."""
        w = np.broadcast_to(np.asarray(weight, np.float64), self.synapses[index].pre_idx.shape)
        self.synapses[index].weight = w
        self._weights[index] = w

    def set_probes(self, probes: Sequence[Probe]):
        """What to record from the next run on (recompiles once per new probe set)."""
        self.probes = list(probes)

    def reset(self):
        """Back to step 0: fresh model states, empty spike buffers."""
        self.step = 0
        for g in self.groups:
            if isinstance(g, NeuronGroup):
                g.model.init_state()
        self._ring = {i: jnp.zeros((self.ring_len, self.groups[i].size), self.dtype)
                      for i in self._senders}

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
        """The values of this run as a pytree: CSR weights per block, Poisson parameters.
        (brainevent plans its kernels from the concrete ``indptr``, so the connectivity itself
        is a constant of the compiled function.)"""
        blocks = [jnp.asarray(self._weights[b.synapses][b.order], self.dtype)
                  for b in self._blocks]
        poisson = {gi: tuple(jnp.asarray(np.broadcast_to(v, (g.size,)), self.dtype)
                             for v in (np.asarray(g.rate) * self.dt / 1000.0, g.start, g.stop))
                   for gi, g in enumerate(self.groups) if isinstance(g, PoissonGroup)}
        return {"blocks": blocks, "poisson": poisson}

    def _step_fn(self, args):
        groups, blocks, probes = self.groups, self._blocks, self.probes
        dt, dtype, ring_len = self.dt, self.dtype, self.ring_len
        base_key = jax.random.PRNGKey(self.seed)
        structure = [(b.indices, b.indptr) for b in blocks]

        def deliver(ring, m):
            # Spikes emitted D steps ago reach their targets at the end of this step.
            for bi, (b, (indices, indptr)) in enumerate(zip(blocks, structure)):
                csr = brainevent.CSR((args["blocks"][bi], indices, indptr),
                                     shape=(groups[b.pre].size, groups[b.post].size))
                sent = ring[b.pre][(m - b.delay) % ring_len]
                if isinstance(groups[b.pre], PoissonGroup):
                    w = sent @ csr                  # spike counts: weighted sum
                else:
                    w = brainevent.BinaryArray(sent > 0) @ csr
                groups[b.post].model.add_delta_input(f"block{bi}", w, label=b.label)

        def poisson(gi, m):
            lam, start, stop = args["poisson"][gi]
            t_spike = (m + 1).astype(dtype) * dt
            active = (t_spike > start) & (t_spike <= stop)
            key = jax.random.fold_in(jax.random.fold_in(base_key, gi), m)
            return jnp.where(active, jax.random.poisson(key, lam), 0).astype(dtype)

        def active_step(ring, x):
            m = x["step"]
            deliver(ring, m)
            spikes = {}
            for gi, g in enumerate(groups):
                if isinstance(g, NeuronGroup):
                    spikes[gi] = g.model.update(x["current"].get(gi, 0.0)).reshape(-1)
                elif isinstance(g, SpikeArrayGroup):
                    spikes[gi] = x["source"][gi]
                else:
                    spikes[gi] = poisson(gi, m)
            ring = {i: r.at[m % ring_len].set(spikes[i].astype(dtype)) for i, r in ring.items()}
            rec = []
            for p in probes:
                if p.variable == "spikes":
                    rec.append(spikes[p.group][p.indices] > 0)
                else:
                    value = groups[p.group].model.recordable(p.variable).reshape(-1)
                    rec.append(value[p.indices].astype(dtype))
            return ring, rec

        def idle_step(ring, x):
            rec = [jnp.zeros(len(p.indices), bool if p.variable == "spikes" else dtype)
                   for p in probes]
            return ring, rec

        def step(ring, x):
            return brainstate.transform.cond(x["active"], active_step, idle_step, ring, x)
        return step

    def _compile(self):
        @brainstate.transform.jit
        def run_chunk(ring, args, xs):
            return brainstate.transform.scan(self._step_fn(args), ring, xs)
        return run_chunk

    def _source_spikes(self, gi, m0, n, length):
        g = self.groups[gi]
        out = np.zeros((length, g.size), np.float64)
        for i, steps in enumerate(g.steps):
            sel = steps[(steps >= m0) & (steps < m0 + n)]
            np.add.at(out[:, i], sel - m0, 1.0)
        return out

    def _chunk_len(self, n_steps):
        per_step = sum(len(p.indices) for p in self.probes) + sum(
            g.size for gi, g in enumerate(self.groups)
            if isinstance(g, SpikeArrayGroup) or any(c.post == gi for c in self.currents))
        limit = max(1, min(self.max_chunk, self.max_chunk_elements // max(per_step, 1)))
        limit = 1 << (limit.bit_length() - 1)        # a power of two
        return min(_next_pow2(n_steps), limit)

    def probe_values(self) -> List[Optional[np.ndarray]]:
        """Probe values now (PyNN samples the state before the first step too); ``None`` for
        spike probes."""
        out = []
        for p in self.probes:
            if p.variable == "spikes":
                out.append(None)
            else:
                value = self.groups[p.group].model.recordable(p.variable)
                out.append(np.asarray(value).reshape(-1)[p.indices])
        return out

    def _check_finite(self):
        for g in self.groups:
            if isinstance(g, NeuronGroup) and hasattr(g.model, "check_finite"):
                g.model.check_finite()

    def run(self, n_steps: int,
            on_chunk: Optional[Callable[[int, int, List[np.ndarray]], None]] = None):
        """Advance ``n_steps``. After every chunk ``on_chunk(m0, n, records)`` receives the first
        step of the chunk, its number of steps and one ``(n, len(indices))`` array per probe. A model that diverges raises
        ``FloatingPointError`` after the chunk in which it happened has been handed over."""
        key = (tuple((p.group, p.variable, tuple(np.asarray(p.indices).tolist()))
                     for p in self.probes),
               tuple(g.model.signature() for g in self.groups
                     if isinstance(g, NeuronGroup) and hasattr(g.model, "signature")))
        args = self._arguments()
        done = 0
        while done < n_steps:
            n = min(n_steps - done, self._chunk_len(n_steps - done))
            length = self._chunk_len(n)
            if (key, length) not in self._compiled:
                self._compiled[(key, length)] = self._compile()
            m0 = self.step
            steps = np.arange(m0, m0 + length)
            xs = {"step": jnp.asarray(steps, jnp.int32),
                  "active": jnp.asarray(np.arange(length) < n),
                  "current": {}, "source": {}}
            for gi, g in enumerate(self.groups):
                if isinstance(g, NeuronGroup):
                    cur = self._currents_for(gi, (steps + 1) * self.dt)
                    if cur is not None:
                        xs["current"][gi] = jnp.asarray(cur, self.dtype)
                elif isinstance(g, SpikeArrayGroup):
                    xs["source"][gi] = jnp.asarray(self._source_spikes(gi, m0, n, length),
                                                   self.dtype)
            self._ring, rec = self._compiled[(key, length)](self._ring, args, xs)
            self.step += n
            done += n
            if on_chunk is not None:
                on_chunk(m0, n, [np.asarray(r)[:n] for r in rec])
            self._check_finite()
