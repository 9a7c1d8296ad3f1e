"""The engine groups of a network's populations: neuron populations that can run as one
model share one group.

Populations of one model whose settings differ only cell by cell (all their model
parameters are per-cell arrays of the same shape; every other setting, such as a model
variant's flags or a stochastic model's seed, is equal) are simulated by one
:class:`.engine.network.NeuronGroup`, the populations' cells one population after the other
(``setup(merge_populations=False)`` gives every population a group of its own). A
population is then the cells ``offset … offset + size - 1`` of its group, and everything
that reaches the engine by cell (connections, probes, currents, initial values) is shifted
by its offset.

Why: every group is one model update in each step's program. The E/I network of
``benchmarks/glif_network.py`` has one GLIF group instead of two: one native loop over all
its cells (split between the two threads, where the 800 inhibitory cells ran on one), one
adaptive-step branch in the XLA program instead of two (a smaller program, compiled
sooner). The numbers do not change: a model updates each of its neurons from that neuron's
own state and input, so in float64 a neuron's trajectory does not depend on which other
neurons share its group, bit for bit. (In float32, which promises no such thing, a
neuron's roundings already depend on its group's size: the same cells with the same inputs
in a population of 30 and of 40 differed in the last bit, without sharing, and agreed with
the native loops off, ``PYNN_BRAINPY_NATIVE=0``: the float32 loop's vectorised body and its
remainder fuse multiply-adds differently.)

Spike sources keep a group each; each group's random stream is numbered by its (first)
population, so merging does not change which stream a source draws from.
"""

from typing import List

import numpy as np
from pyNN import errors

from .engine import network as engine

__all__ = ["SharedModel", "engine_groups"]


class SharedModel:
    """The model of a group of neuron populations (``members``, in their group's order)."""

    def __init__(self, members):
        self.members = list(members)
        self.model = None

    @property
    def size(self) -> int:
        return sum(p.size for p in self.members)

    def accepts(self, population) -> bool:
        """Whether ``population`` may join: the same model class and the same settings but
        for per-cell values."""
        first = self.members[0]
        return (population._model_class() is first._model_class()
                and _same_settings(first, population))

    def model_kwargs(self) -> dict:
        """The members' model parameters, the per-cell arrays joined."""
        first = self.members[0]
        return {name: (np.concatenate([p._model_kwargs[name] for p in self.members])
                       if _per_cell(value, first.size) else value)
                for name, value in first._model_kwargs.items()}

    def group(self) -> engine.NeuronGroup:
        """A fresh engine group for the members (when the network is built)."""
        self.model = self.members[0]._model_class()(self.size, **self.model_kwargs())
        offset = 0
        for p in self.members:
            p._engine_offset, p._values_dirty = offset, False
            offset += p.size
        return engine.NeuronGroup(self.model, self.size)

    def push_parameters(self):
        """Hand the members' parameters to the model (after one of them changed)."""
        self.model.set_parameters(**self.model_kwargs())
        for p in self.members:
            p._values_dirty = False

    def apply_initial_values(self):
        """Write the members' stored initial values into the model's state (when the
        network is built or reset); a cell whose value was never given keeps the model's."""
        by_target = {}
        for p in self.members:
            for variable, stored in p._initial_arrays.items():
                target, factor = _initial_value_target(p, variable)
                values = by_target.setdefault(target, np.full(self.size, np.nan))
                values[p._engine_offset:p._engine_offset + p.size] = stored * factor
        for target, values in by_target.items():
            self._write(target, values)

    def set_initial_values(self, population, variable, mask):
        """Write the stored initial value of ``variable`` of the cells ``mask`` of member
        ``population`` into the running model (``initialize`` during a simulation); the
        other cells keep their present state."""
        target, factor = _initial_value_target(population, variable)
        values = np.full(self.size, np.nan)
        cells = population._engine_offset + np.arange(population.size)[mask]
        values[cells] = population._initial_arrays[variable][mask] * factor
        self._write(target, values)

    def _write(self, target, values):
        """Set the model's ``target`` state to ``values`` where they are not NaN."""
        given = ~np.isnan(values)
        present = np.asarray(self.model.recordable(target), float).reshape(values.shape)
        self.model.set_state_of(target, np.where(given, values, present), given)


def _initial_value_target(population, variable):
    """The model state and factor of a PyNN initial value of ``population``."""
    celltype = population.celltype
    target, factor = celltype.initial_value_map.get(variable, (None, None))
    if target is None:
        raise errors.NonExistentParameterError(variable, celltype.__class__.__name__,
                                               list(celltype.initial_value_map))
    return target, factor


def _per_cell(value, size) -> bool:
    return isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == size


def _same_settings(a, b) -> bool:
    ka, kb = a._model_kwargs, b._model_kwargs
    if ka.keys() != kb.keys():
        return False
    for name, va in ka.items():
        vb = kb[name]
        if _per_cell(va, a.size) != _per_cell(vb, b.size):
            return False
        if _per_cell(va, a.size):
            if va.dtype != vb.dtype or va.shape[1:] != vb.shape[1:]:
                return False
        elif not (np.shape(va) == np.shape(vb) and np.array_equal(va, vb)):
            return False
    return True


def engine_groups(populations, merge: bool = True):
    """The engine groups of ``populations`` (in their order; a shared group where its first
    member is) and each group's random-stream number. Sets each population's
    ``_engine_index``, ``_engine_offset`` and ``_group``, and a neuron population's
    ``_shared`` (its :class:`SharedModel`)."""
    parts: List[object] = []           # a SharedModel or a source population, per group
    for p in populations:
        if not p._is_neuron():
            parts.append(p)
            continue
        shared = next((s for s in parts if merge and isinstance(s, SharedModel)
                       and s.accepts(p)), None)
        if shared is None:
            shared = SharedModel([p])
            parts.append(shared)
        else:
            shared.members.append(p)
    groups, streams = [], []
    for index, part in enumerate(parts):
        members = part.members if isinstance(part, SharedModel) else [part]
        group = part.group() if isinstance(part, SharedModel) else part._source_group()
        for p in members:
            p._engine_index, p._group = index, group
            p._shared = part if isinstance(part, SharedModel) else None
            if not isinstance(part, SharedModel):
                p._engine_offset = 0
        groups.append(group)
        streams.append(members[0]._index)
    return groups, streams
