"""Current sources of the pynn_brainpy backend: injection, the engine contract and recording.

:class:`CurrentSource` is the base of the standard sources in
``standardmodels/electrodes.py`` (PyNN's ``pyNN.nest.electrodes`` / ``NestCurrentSource``
plays the same part for NEST). A source is a pure function of time: a subclass gives
``_values(params, k)``, the current (nA) in effect on ``[k·dt, (k+1)·dt)`` for integer steps
``k`` under the parameter values ``params``. Everything else is here:

* ``inject_into(cells)`` records the targets (a structural change: the network is rebuilt at
  the next run);
* ``_engine_inputs(state)`` gives the engine one ``CurrentInput`` per target population,
  whose ``amplitude(times)`` reads the parameters at call time and scales nA to the model's
  unit (``celltype.current_scale``);
* a parameter change between runs takes effect at the current time ``t``: the simulator
  loads the value in effect from ``t`` into the models before the next run, so the cells
  respond at ``t + dt`` (PyNN: "the current changes at exactly the given time and V responds
  one step later");
* ``record()`` / ``get_data()``: the values are not sampled from the simulation but
  recomputed from the parameter history of the current segment (the parameters that were in
  effect for each step), which is exactly what the engine was given.
"""

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import StandardCurrentSource

from . import simulator
from .engine import network as engine

__all__ = ["CurrentSource"]


def _check_finite(source, params, names):
    for name in names:
        value = np.asarray(params[name], float)
        if not np.all(np.isfinite(value)):
            raise errors.InvalidParameterValueError(
                f"{source}: {name} must be finite, got {params[name]!r}.")


class CurrentSource(StandardCurrentSource):
    """A standard PyNN current source simulated by the engine (base class).

    Parameters are kept as plain floats / float arrays in PyNN units (nA, ms, Hz, deg);
    subclasses set ``default_parameters`` (from PyNN), identity ``translations``,
    ``_sequences`` (names of array parameters), and implement ``_validate`` and ``_values``.
    """

    _sequences = ()

    def __init__(self, **parameters):
        super().__init__(**parameters)
        state = simulator.state
        self._timestep = state.dt
        self._targets = []           # (Population, int indices in it)
        self._recording = False
        self._native = None
        self._history = []           # [(first step, params)] of the current segment
        self._segment = state.segment_counter
        ps = ParameterSpace(self.default_parameters, self.get_schema(), shape=(1,))
        ps.update(**parameters)
        self.set_native_parameters(self.translate(ps))
        self._index = len(state.current_sources)
        state.current_sources.append(self)

    @property
    def _name(self):
        return self.__class__.__name__

    # ------------------------------------------------------------------ parameters
    def set_native_parameters(self, parameters):
        """Check the new values (all or nothing) and make them current from now on."""
        parameters.evaluate(simplify=True)
        new = dict(self._native or {})
        for name, value in parameters.items():
            if isinstance(value, Sequence):
                value = value.value
            try:
                if name in self._sequences:
                    new[name] = np.array(value, dtype=float).reshape(-1)
                else:
                    new[name] = float(np.asarray(value, dtype=float).reshape(()))
            except (TypeError, ValueError):
                raise errors.InvalidParameterValueError(
                    f"{self._name}: {name} must be "
                    f"{'a sequence of numbers' if name in self._sequences else 'a number'}, "
                    f"got {value!r}.") from None
        new = self._validate(new)
        self.parameter_space.update(**{   # keep describe() in step
            name: Sequence(new[name]) if name in self._sequences else new[name]
            for name in new})
        if self._native is None:          # construction
            self._native = new
            self._history = [(0, new)]
            return
        state = simulator.state
        self._sync_history()
        self._native = new
        if self._history[-1][0] == state.step:
            self._history[-1] = (state.step, new)
        else:
            self._history.append((state.step, new))
        # The value for the step starting now was handed over with the previous step; the
        # simulator reloads it before the next run, so the change acts from the current time.

    def get_native_parameters(self):
        return ParameterSpace({name: Sequence(value.copy()) if name in self._sequences
                               else value for name, value in self._native.items()},
                              shape=(1,))

    def __getattr__(self, name):
        # called only when normal lookup fails
        if name.startswith("_"):
            raise AttributeError(name)
        if name != "set" and self.has_parameter(name) and self.__dict__.get("_native"):
            ps = self.get_parameters()
            ps.evaluate(simplify=True)
            value = ps[name]
            return np.array(value.value, float) if isinstance(value, Sequence) else value
        return super().__getattr__(name)

    def _validate(self, params: dict) -> dict:
        """Return the checked (and normalised) parameters or raise
        ``InvalidParameterValueError`` naming the parameter."""
        raise NotImplementedError

    def _values(self, params: dict, k: np.ndarray) -> np.ndarray:
        """Current (nA) in effect on ``[k·dt, (k+1)·dt)`` for float arrays of whole steps
        ``k``."""
        raise NotImplementedError

    def _steps(self, t):
        """Whole steps of a time (ms), rounded to the nearest one; ``inf`` stays ``inf``."""
        return np.rint(np.asarray(t, float) / self._timestep)

    # ------------------------------------------------------------------ injection
    def inject_into(self, cells):
        """Inject the current of this source into ``cells``: a Population, PopulationView,
        Assembly, an ID or a list of IDs (a cell given twice receives the current twice)."""
        targets = self._resolve(cells)
        state = simulator.state
        for population, _ in targets:
            celltype = population.celltype
            if not celltype.injectable:
                raise TypeError("Can't inject current into a spike source.")
            if not hasattr(celltype, "current_scale"):
                raise NotImplementedError(
                    f"pynn_brainpy cannot inject current into {celltype.__class__.__name__} "
                    "(the cell type gives no current_scale).")
            if not (population._index < len(state.populations)
                    and state.populations[population._index] is population):
                raise ValueError(f"{self._name}: cannot inject into {population.label!r}, "
                                 "which belongs to an earlier setup().")
        state.mark_structure_changed()
        self._targets.extend(targets)

    @staticmethod
    def _resolve(cells):
        """[(Population, indices)] of the cells."""
        if isinstance(cells, common.Assembly):
            out = []
            for p in cells.populations:
                out.extend(CurrentSource._resolve(p))
            return out
        if isinstance(cells, common.PopulationView):
            return [(cells.grandparent,
                     np.asarray(cells.index_in_grandparent(np.arange(cells.size)), np.int64))]
        if isinstance(cells, common.Population):
            return [(cells, np.arange(cells.size, dtype=np.int64))]
        if isinstance(cells, common.IDMixin):
            cells = [cells]
        groups = {}
        for cell in cells:
            if not isinstance(cell, common.IDMixin):
                raise TypeError("inject_into() takes a Population, PopulationView, Assembly "
                                f"or a list of cell IDs, not {cell!r}.")
            groups.setdefault(id(cell.parent), (cell.parent, []))[1].append(cell)
        return [(parent, np.atleast_1d(np.asarray(parent.id_to_index(np.array(ids, dtype=int)),
                                                  np.int64)))
                for parent, ids in groups.values()]

    # ------------------------------------------------------------------ engine
    def _engine_inputs(self, state):
        """One ``CurrentInput`` per target population (called when the network is built)."""
        by_population = {}
        for population, indices in self._targets:
            by_population.setdefault(population._index, (population, []))[1].append(indices)
        inputs = []
        for index in sorted(by_population):
            population, indices = by_population[index]
            scale = float(population.celltype.current_scale)
            inputs.append(engine.CurrentInput(
                post=population._engine_index,
                targets=population._engine_offset + np.concatenate(indices).astype(np.int64),
                amplitude=self._amplitude_function(scale)))
        return inputs

    def _amplitude_function(self, scale):
        def amplitude(times_ms):
            """The current (model units) in effect from each time on, for the present
            parameter values."""
            return scale * self._values(self._native, self._steps(times_ms))
        return amplitude

    # ------------------------------------------------------------------ recording
    def _sync_history(self):
        """A reset() began a new segment: the present parameters hold from step 0."""
        state = simulator.state
        if self._segment != state.segment_counter:
            self._segment = state.segment_counter
            self._history = [(0, self._native)]

    def record(self):
        """Record the injected current (``get_data()`` returns it from 0 to the current
        time)."""
        self._recording = True

    def _get_data(self):
        if not self._recording:
            raise errors.NothingToWriteError(
                f"{self._name}: call record() before get_data().")
        self._sync_history()
        n = simulator.state.step
        k = np.arange(n + 1, dtype=float)
        current = np.zeros(n + 1)
        firsts = [first for first, _ in self._history] + [n + 1]
        for (first, params), end in zip(self._history, firsts[1:]):
            if first <= n:
                current[first:end] = self._values(params, k[first:end])
        return k * self._timestep, current
