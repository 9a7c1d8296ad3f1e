"""Simulator state of the PyNN backend: the clock, the registry of what the script built, and
the run driver that compiles the network into the engine and feeds recorders.

Time is an integer step count; ``t = step · dt``. The engine network is (re)built at the first
``run`` after a structural change (new population, projection, recorded variable's probe set
or current source); value changes (parameters, weights, amplitudes, spike times) are pushed
into the existing engine before the next run and do not recompile.
"""

import os

import brainstate
import jax
from pyNN import common

from .engine import network as engine
from .engine_groups import engine_groups

name = "brainpy"


def use_compilation_cache(setting):
    """Point JAX's persistent compilation cache at a directory (see ``setup``). JAX takes
    the first setting made before its first compilation; later changes are ignored."""
    if not setting:
        return
    path = setting if isinstance(setting, str) else os.environ.get(
        "PYNN_BRAINPY_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "pynn_brainpy"))
    path = os.path.join(path, "jax") if not isinstance(setting, str) else path
    if jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


class ID(int, common.IDMixin):
    """A cell: an integer id with PyNN's ``IDMixin`` (``parent``, ``get_parameters``, ...)."""

    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """The one simulation of this process (``simulator.state``)."""

    def __init__(self):
        super().__init__()
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.min_delay_setting = "auto"
        self.max_delay = 10.0
        self.precision = "float64"
        self.spike_precision = "on_grid"
        self.merge_populations = True
        self.rng_seed = 0
        self.progress_bar = None
        self.clear()

    # ------------------------------------------------------------------ clock
    @property
    def t(self) -> float:
        return self.step * self.dt

    def configure(self, dt, min_delay, max_delay, precision, rng_seed, progress_bar,
                  spike_precision="on_grid", merge_populations=True):
        if precision not in ("float64", "float32"):
            raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}.")
        if spike_precision not in ("on_grid", "off_grid"):
            raise ValueError("spike_precision must be 'on_grid' or 'off_grid', got "
                             f"{spike_precision!r}.")
        if not isinstance(merge_populations, bool):
            raise ValueError("merge_populations must be True or False, got "
                             f"{merge_populations!r}.")
        self.spike_precision = spike_precision
        self.merge_populations = merge_populations
        self.dt = float(dt)
        self.min_delay_setting = min_delay
        self.max_delay = max_delay
        self.precision = precision
        self.rng_seed = int(rng_seed)
        self.progress_bar = progress_bar
        brainstate.environ.set(dt=self.dt, precision=64 if precision == "float64" else 32)

    def resolved_min_delay(self) -> float:
        """The default delay of new connections: ``min_delay``, or one step if 'auto'."""
        return self.dt if self.min_delay_setting == "auto" else float(self.min_delay_setting)

    @property
    def min_delay(self) -> float:
        """``get_min_delay()``: as set, or with 'auto' the shortest delay in the network
        (one step while there is none), as NEST reports it."""
        if self.min_delay_setting != "auto":
            return float(self.min_delay_setting)
        delays = [prj._values["delay"].min() for prj in self.projections
                  if len(prj) and "delay" in prj._values]       # gap junctions have none
        return float(min(delays)) if delays else self.dt

    # ------------------------------------------------------------------ registry
    def clear(self):
        """Forget the network (``setup`` again)."""
        self.populations = []
        self.projections = []
        self.current_sources = []
        self.recorders = set()
        self.write_on_end = []
        self.id_counter = 0
        self.segment_counter = -1
        self.network = None
        self.structure_dirty = True
        self.reset()

    def mark_structure_changed(self):
        """Populations, projections or current-source targets changed: rebuild at next run."""
        if self.network is not None and self.step > 0:
            raise NotImplementedError(
                "pynn_brainpy cannot change the network structure (new populations, "
                "projections or current-source targets) in the middle of a simulation; "
                "call reset() first, or create everything before the first run().")
        self.structure_dirty = True

    # ------------------------------------------------------------------ running
    def _build(self):
        groups, streams = engine_groups(self.populations, self.merge_populations)
        synapses = []
        for prj in self.projections:
            synapses.extend(prj._engine_synapses(len(synapses)))
        currents = [c for src in self.current_sources for c in src._engine_inputs(self)]
        gap_junctions = []
        for prj in self.projections:
            gap_junctions.extend(prj._engine_gap_junctions(len(gap_junctions)))
        self.network = engine.Network(groups, synapses, currents, self.dt, self.rng_seed,
                                      gap_junctions=gap_junctions, streams=streams)
        self.structure_dirty = False
        self._apply_initial_values()
        self.network.load_initial_currents()

    def _apply_initial_values(self):
        for shared in {id(p._shared): p._shared for p in self.populations
                       if p._shared is not None}.values():
            shared.apply_initial_values()

    def _probes(self):
        probes, sinks = [], []
        for rec in sorted(self.recorders, key=lambda r: r.population._index):
            population = rec.population
            for variable, indices, sink in rec._probes():
                probes.append(engine.Probe(population._engine_index, variable,
                                           population._engine_offset + indices))
                sinks.append(sink)
        return probes, sinks

    def run_until(self, tstop):
        n_steps = int(round((tstop - self.t) / self.dt))
        if self.structure_dirty or self.network is None:
            self._build()
        for p in self.populations:
            p._push_values()
        for prj in self.projections:
            prj._push_values()
        self.network.load_initial_currents()     # current sources may have changed
        probes, sinks = self._probes()
        self.network.set_probes(probes)
        for rec in self.recorders:
            rec._start_run()
        self.running = True
        progress = self._progress(n_steps)

        def on_chunk(m0, n, records):
            for sink, values in zip(sinks, records):
                sink(m0, values)
            if progress is not None:
                progress.update(n)

        try:
            self.network.run(n_steps, on_chunk)
        finally:   # a failed chunk keeps what the chunks before it recorded
            self.step = self.network.step
            if progress is not None:
                progress.close()
        return self.t

    def _progress(self, n_steps):
        show = self.progress_bar
        if show is None:
            show = n_steps * sum(p.size for p in self.populations) > 2e8
        if not show or n_steps == 0:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=n_steps, unit="step", desc="pynn_brainpy")

    def reset(self):
        """Back to t = 0 with the initial values (PyNN's ``reset``)."""
        self.running = False
        self.t_start = 0
        self.step = 0
        self.segment_counter += 1
        for recorder in self.recorders:
            recorder._clear_simulator()
        if self.network is not None and not self.structure_dirty:
            self.network.reset()
            self._apply_initial_values()
            for prj in self.projections:     # plastic weights: back to their initial values
                prj._sync_from_engine()
            self.network.load_initial_currents()


state = State()
