"""Recording: the engine hands each chunk's probe buffers to the population's Recorder, which
keeps spikes as (id, time) arrays and signals as sampled blocks, and gives them to PyNN's
Neo assembly (``pyNN.recording.Recorder``).

Signals are sampled at the recording start and then every ``sampling_interval``: the sample at
``t`` is the state after the step that ends at ``t`` (the value at ``t = 0`` is the initial
state). Spike times are the step ends ``(m+1)·dt``, as NEST stamps them; spikes off the grid
(``spike_precision="off_grid"``) are ``(m+1)·dt − offset``.
"""

from collections import defaultdict

import numpy as np
from pyNN import recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file=file)
        self._interval_steps = 1
        self._clear_simulator()

    # ------------------------------------------------------------------ PyNN hooks
    def _record(self, variable, new_ids, sampling_interval=None):
        state = self._simulator.state
        if sampling_interval is not None:
            steps = int(round(sampling_interval / state.dt))
            if steps < 1 or abs(steps * state.dt - sampling_interval) > 1e-9 * max(1.0, steps):
                raise ValueError(f"sampling_interval must be a positive multiple of the time "
                                 f"step {state.dt} ms, got {sampling_interval} ms.")
            self.sampling_interval = sampling_interval
            self._interval_steps = steps

    def _get_spiketimes(self, ids, clear=False):
        ids = np.asarray([int(i) for i in ids], dtype=np.int64)
        if not self._spikes:
            return np.zeros(0, np.int64), np.zeros(0)
        id_array = np.concatenate([c[0] for c in self._spikes])
        times = np.concatenate([c[1] for c in self._spikes])
        keep = np.isin(id_array, ids)
        return id_array[keep], times[keep]

    def _get_all_signals(self, variable, ids, clear=False):
        state = self._simulator.state
        k = self._interval_steps
        origin = int(round(float(self._recording_start_time.rescale("ms").magnitude) / state.dt))
        grid = np.arange(origin, state.step + 1, k)
        ids = np.asarray([int(i) for i in ids], dtype=np.int64)
        out = np.full((grid.size, ids.size), np.nan)
        if ids.size == 0:
            return out, None
        order = np.argsort(ids)
        for sample_steps, chunk_ids, values in self._signals[variable.name]:
            rows = (sample_steps - origin) // k
            ok = (rows >= 0) & (rows < grid.size)
            # where each of the chunk's recorded cells goes among the requested ones
            pos = np.minimum(np.searchsorted(ids[order], chunk_ids), ids.size - 1)
            found = ids[order][pos] == chunk_ids
            out[np.ix_(rows[ok], order[pos[found]])] = values[np.ix_(ok, found)]
        return out, None

    def _local_count(self, variable, filter_ids=None):
        ids = sorted(self.filter_recorded(variable, filter_ids))
        id_array, _ = self._get_spiketimes(ids)
        counts = dict.fromkeys((int(i) for i in ids), 0)
        uniq, n = np.unique(id_array, return_counts=True)
        counts.update(zip(uniq.tolist(), n.tolist()))
        return counts

    def _clear_simulator(self):
        self._spikes = []                        # (ids, times) per chunk
        self._signals = defaultdict(list)        # name -> [(sample steps, ids, values)]
        self._last_sample = {}                   # name -> last sampled step

    def _reset(self):
        self._interval_steps = 1

    # ------------------------------------------------------------------ engine side
    def _recorded_indices(self, variable):
        ids = np.array(sorted(int(i) for i in self.recorded[variable]), dtype=np.int64)
        # a Population's ids are consecutive; PyNN's id_to_index would compare the array
        # with an ID object, whose attribute lookups (numpy's) compute the cell's parameters,
        # in every run
        return ids, ids - int(self.population.first_id)

    def _probes(self):
        """(model variable, cell indices, sink) for everything recorded."""
        out = []
        for variable in list(self.recorded):
            if not self.recorded[variable]:
                continue
            ids, indices = self._recorded_indices(variable)
            if variable.name == "spikes":
                out.append(("spikes", indices, self._spike_sink(ids)))
            else:
                model_name, factor, _ = self.population.celltype.recordable_map[variable.name]
                out.append((model_name, indices,
                            self._signal_sink(variable.name, ids, factor)))
        return out

    def _spike_sink(self, ids):
        dt = self._simulator.state.dt

        def sink(m0, spikes):
            if isinstance(spikes, tuple):   # on the grid: (steps, cells) of the chunk's spikes
                rows, cols = spikes
                times = (m0 + rows + 1) * dt
            else:                           # precise: offsets (steps, cells, slots), NaN: none
                rows, cols, slots = np.nonzero(~np.isnan(spikes))
                times = (m0 + rows + 1) * dt - spikes[rows, cols, slots]
                order = np.lexsort((times, cols))
                rows, cols, times = rows[order], cols[order], times[order]
            if rows.size:
                self._spikes.append((ids[cols], times))
        return sink

    def _signal_sink(self, name, ids, factor):
        def sink(m0, values):
            steps = m0 + 1 + np.arange(values.shape[0])
            keep = self._on_grid(steps)
            self._store(name, steps[keep], ids, np.asarray(values, float)[keep] * factor)
        return sink

    def _on_grid(self, steps):
        state = self._simulator.state
        origin = int(round(float(self._recording_start_time.rescale("ms").magnitude) / state.dt))
        return (steps - origin) % self._interval_steps == 0

    def _store(self, name, steps, ids, values):
        if steps.size:
            self._signals[name].append((steps, ids, values))
            self._last_sample[name] = int(steps[-1])

    def _start_run(self):
        """Sample the current state before a run, unless that sample was already taken."""
        model = getattr(self.population._group, "model", None)
        now = self._simulator.state.step
        if model is None:
            return
        for variable in list(self.recorded):
            if variable.name == "spikes" or not self.recorded[variable]:
                continue
            if self._last_sample.get(variable.name) == now or not self._on_grid(np.array(now)):
                continue
            ids, indices = self._recorded_indices(variable)
            model_name, factor, _ = self.population.celltype.recordable_map[variable.name]
            value = np.asarray(model.recordable(model_name)).reshape(-1)[
                self.population._engine_offset + indices]
            self._store(variable.name, np.array([now]), ids, value[None, :] * factor)
