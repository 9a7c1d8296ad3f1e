"""Populations, views and assemblies of the pynn_brainpy backend.

A Population keeps its parameters on the host, translated to the model's names and units (one
value per cell, exactly what ``get()`` reverse-translates), and turns them into an engine group
when the network is built. Parameter changes between runs are pushed into the existing model.
"""

from copy import deepcopy

import numpy as np
from pyNN import common, errors
from pyNN.parameters import LazyArray, ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .engine import network as engine
from .recording import Recorder
from .standardmodels.sources import SpikeSourceArray, as_sequences


class Assembly(common.Assembly):
    _simulator = simulator


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    # Views store into the Population at the root of the tree (``grandparent``) through the
    # view's indices there, so that views of views work too (with ``self.parent`` and
    # ``self.mask`` a view of a view failed with AttributeError: found by
    # tests/pynn/test_control.py).
    def _root_indices(self):
        return np.asarray(self.index_in_grandparent(np.arange(self.size)), np.int64)

    def _get_parameters(self, *names):
        return _reverse(self.celltype, self._get_native_parameters, names)

    def _get_native_parameters(self, *names):
        values = {}
        indices = self._root_indices()
        for name in names:
            value = self.grandparent._parameters[name]
            values[name] = simplify(value[indices] if isinstance(value, np.ndarray) else value)
        return ParameterSpace(values, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        self.grandparent._store_parameters(parameter_space, self._root_indices())

    def _set_initial_value_array(self, variable, initial_values):
        self.grandparent._store_initial_values(variable, initial_values, self._root_indices())

    def initialize(self, **initial_values):
        """Set initial values of the cells of this view (see ``Population.initialize``).

        PyNN's common ``PopulationView.initialize`` stores the values and then fails with
        NotImplementedError on ``PopulationView.initial_values``; here the values are stored
        and the root population's ``initial_values`` updated (found by
        tests/pynn/test_control.py)."""
        root = self.grandparent
        for variable, value in initial_values.items():
            lazy = LazyArray(value, shape=(self.size,), dtype=float)
            self._set_initial_value_array(variable, lazy)
            if variable in root.initial_values:
                # the values in use: those stored (drawn once), else the previous lazy value
                stored = root._initial_arrays[variable]
                merged = np.where(np.isnan(stored), np.broadcast_to(np.asarray(
                    root.initial_values[variable].evaluate(simplify=False), float),
                    (root.size,)), stored)
                root.initial_values[variable] = LazyArray(merged, shape=(root.size,),
                                                          dtype=float)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


def _reverse(celltype, get_native, names):
    """``get()``: stored native values translated back to the cell type's names."""
    # An unknown name is PyNN's NonExistentParameterError, not a KeyError from the
    # translation table (found by tests/pynn/test_control.py).
    unknown = [name for name in names if name not in celltype.get_parameter_names()]
    if unknown:
        raise errors.NonExistentParameterError(unknown[0], celltype.__class__.__name__,
                                               celltype.get_parameter_names())
    if isinstance(celltype, StandardCellType):
        if any(name in celltype.computed_parameters() for name in names):
            native_names = celltype.get_native_names()   # computed ones need everything
        else:
            native_names = celltype.get_native_names(*names)
        return celltype.reverse_translate(get_native(*native_names))
    return get_native(*names)


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    # ------------------------------------------------------------------ creation
    def _create_cells(self):
        state = simulator.state
        state.mark_structure_changed()
        ids = np.arange(state.id_counter, state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in ids], dtype=simulator.ID)
        self._mask_local = np.ones(self.size, bool)
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        ps = self.celltype.parameter_space
        if isinstance(self.celltype, StandardCellType):
            # translate with the population's shape: a computed translation may combine a
            # per-cell array with a scalar (tau_m = array, cm = number)
            ps = deepcopy(ps)             # as PyNN's translate(copy=True) does
            ps.shape = (self.size,)
            ps = self.celltype.translate(ps, copy=False)
        ps.shape = (self.size,)
        ps.evaluate(simplify=False)
        self._parameters = ps.as_dict()
        self._initial_arrays = {}
        self._group = self._shared = None
        self._engine_index = self._engine_offset = None
        self._values_dirty = False
        self._index = len(state.populations)
        self._check_values()
        state.populations.append(self)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    # ------------------------------------------------------------------ parameters
    def _get_parameters(self, *names):
        return _reverse(self.celltype, self._get_native_parameters, names)

    def _get_native_parameters(self, *names):
        return ParameterSpace({name: simplify(self._parameters[name]) for name in names},
                              shape=(self.size,))

    def _set_parameters(self, parameter_space):
        self._store_parameters(parameter_space, slice(None))

    def _store_parameters(self, parameter_space, mask):
        """Write translated values into the cells selected by ``mask``; they are checked now
        and reach the engine at the next run."""
        parameter_space.evaluate(simplify=False)
        previous = {name: self._parameters[name].copy() for name in parameter_space.keys()}
        for name, value in parameter_space.items():
            column = self._parameters[name]
            if column.dtype != object and np.asarray(value).dtype == object:
                column = self._parameters[name] = column.astype(object)
            try:
                column[mask] = value
            except (ValueError, TypeError):
                self._parameters.update(previous)
                raise errors.InvalidParameterValueError(
                    f"{self.celltype.__class__.__name__}: {name} cannot take the value "
                    f"{value!r}.") from None
        try:
            self._check_values()
        except Exception:
            self._parameters.update(previous)
            raise
        self._values_dirty = True
        self._follow_port_count()

    def _follow_port_count(self):
        """A cell type with a variable number of synaptic ports (GLIF_cond) takes the count
        from its ``tau_syn``: after ``set(tau_syn=...)`` with another length, this population
        gets its own copy of the cell type with the new receptor types."""
        if not hasattr(self.celltype, "n_ports") or "tau_syn" not in self._parameters:
            return
        first = self._parameters["tau_syn"][0]
        n_ports = np.size(getattr(first, "value", first))
        if n_ports != self.celltype.n_ports:
            self.celltype = deepcopy(self.celltype)
            self.celltype.parameter_space.update(tau_syn=first)

    def _check_values(self):
        """Validate the stored values with the model's checks (PyNN error types)."""
        ct = self.celltype
        if hasattr(ct, "model_parameters"):
            kwargs = ct.model_parameters(self._parameters, self.size)
            if self._group is not None and _port_counts(kwargs) != _port_counts(
                    self._model_kwargs):
                simulator.state.mark_structure_changed()
            self._model_kwargs = kwargs
        elif isinstance(ct, SpikeSourceArray):
            now = simulator.state.step
            emitted = [ct.emission_steps(times, simulator.state.dt, now, cell=i,
                                         precise=_off_grid())
                       for i, times in enumerate(as_sequences(self._parameters["spike_times"]))]
            if _off_grid():
                self._source_steps = [steps for steps, _ in emitted]
                self._source_offsets = [offsets for _, offsets in emitted]
            else:
                self._source_steps, self._source_offsets = emitted, None
        elif hasattr(ct, "generator_group"):
            ct.check_parameters(self._parameters)
        else:
            raise NotImplementedError(
                f"pynn_brainpy cannot simulate {ct.__class__.__name__} yet.")

    # ------------------------------------------------------------------ initial values
    def _set_initial_value_array(self, variable, initial_values):
        self._store_initial_values(variable, initial_values, slice(None))

    def _store_initial_values(self, variable, lazy, mask):
        """Initial values are drawn once (a reset restores the same values) and, during a
        simulation, also set in the running model right away."""
        # the number of selected cells (a view's mask may be a slice such as [:2], which
        # selects fewer than all cells: found by tests/pynn/test_control.py)
        size = int(np.arange(self.size)[mask].size)
        values = np.broadcast_to(np.asarray(lazy.evaluate(simplify=False), float), (size,))
        column = self._initial_arrays.setdefault(variable, np.full(self.size, np.nan))
        column[mask] = values
        if self._shared is not None and not simulator.state.structure_dirty:
            self._shared.set_initial_values(self, variable, mask)

    # ------------------------------------------------------------------ engine
    def _is_neuron(self) -> bool:
        return hasattr(self.celltype, "model_parameters")

    def _model_class(self):
        """The model that simulates this neuron population (NEST's precise version, where
        the cell type has one, under ``spike_precision="off_grid"``)."""
        ct = self.celltype
        if _off_grid() and getattr(ct, "precise_model", None) is not None:
            return ct.precise_model
        return ct.model

    def _source_group(self):
        """A fresh engine group for this spike source (when the network is built); neuron
        populations get theirs from :func:`.engine_groups.engine_groups`."""
        ct = self.celltype
        if isinstance(ct, SpikeSourceArray):
            group = engine.SpikeArrayGroup(self.size, self._source_steps, self._source_offsets)
        else:
            group = ct.generator_group(self.size, self._parameters, simulator.state.dt,
                                       **self._precise_keyword())
        self._values_dirty = False
        return group

    def _push_values(self):
        """Hand parameter changes made since the last run to the engine."""
        if not self._values_dirty or self._group is None:
            return
        if self._shared is not None:
            self._shared.push_parameters()
        elif isinstance(self._group, engine.SpikeArrayGroup):
            self._group.steps = self._source_steps
            self._group.offsets = self._source_offsets
        else:
            self._group.params = self.celltype.generator_group(
                self.size, self._parameters, simulator.state.dt,
                **self._precise_keyword()).params
        self._values_dirty = False

    def _precise_keyword(self):
        """Sources with a precise version get ``precise=True`` under off_grid."""
        if _off_grid() and getattr(self.celltype, "precise_spikes", False):
            return {"precise": True}
        return {}


def _off_grid() -> bool:
    return simulator.state.spike_precision == "off_grid"


def _port_counts(kwargs):
    return {k: np.shape(v)[-1] for k, v in kwargs.items() if np.ndim(v) == 2}
