"""Projections: connection lists on the host, handed to the engine as CSR blocks.

Connections are built vectorised (:mod:`pynn_brainpy.connectivity`) for PyNN's common
connectors and through PyNN's own per-target loop (``_convergent_connect``) for the rest.
They are kept as index arrays plus one array per synapse parameter in the synapse type's
translated names and PyNN units; delays are stored rounded to the time grid, as NEST reports
them. Weights reach the engine scaled to the target model's unit (``weight_scale``).
An ElectricalSynapse projection has no delays and becomes engine gap junctions (conductances
in nS) instead of spike-transmitting synapses.
"""

from copy import deepcopy

import numpy as np
from pyNN import common, errors
from pyNN.parameters import LazyArray, ParameterSpace
from pyNN.space import Space
from pyNN.standardmodels import StandardSynapseType

from . import simulator
from .connectivity import build_connections, evaluate_on_pairs
from .engine import gap_junctions as gap
from .engine import network as engine
from .engine.timing import TICS_PER_MS, ms_to_steps_round, tics_per_step
from .standardmodels.synapses import StaticSynapse


class Connection(common.Connection):
    """One connection, a view on the projection's arrays (``prj.connections``)."""

    def __init__(self, projection, index):
        self._projection = projection
        self._index = index

    @property
    def presynaptic_index(self):
        return int(self._projection._pre[self._index])

    @property
    def postsynaptic_index(self):
        return int(self._projection._post[self._index])

    def __getattr__(self, name):
        values = self.__dict__["_projection"]._values
        if name in values:
            return float(values[name][self.__dict__["_index"]])
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        projection = self._projection
        if name not in projection._values:
            raise AttributeError(f"{projection.synapse_type.__class__.__name__} connections "
                                 f"have no attribute {name!r}")
        projection._set_connection_values(name, np.array([self._index]),
                                          np.array([value], float))

    def as_tuple(self, *attribute_names):
        return tuple(getattr(self, name) for name in attribute_names)


def _cells_of(neurons):
    """(population index, index in that population) of every cell of a Population,
    PopulationView or Assembly, in the object's order."""
    if isinstance(neurons, common.Assembly):
        parts = [_cells_of(p) for p in neurons.populations]
        return tuple(np.concatenate(x) for x in zip(*parts))
    population = neurons.grandparent if hasattr(neurons, "grandparent") else neurons
    if hasattr(neurons, "parent"):
        indices = np.asarray(population.id_to_index(neurons.all_cells), np.int64).reshape(-1)
    else:
        indices = np.arange(neurons.size, dtype=np.int64)
    return np.full(indices.size, population._index, np.int64), indices


def _engine_cells(population_index, indices):
    """(engine group, cells in it) of cells ``indices`` (an array of the caller's own, shifted
    in place: a copy of every connection's index took 200 MB at 40 000 neurons) of a
    population, which may share its group with others (:mod:`.engine_groups`)."""
    population = simulator.state.populations[population_index]
    if population._engine_offset:
        indices += population._engine_offset
    return population._engine_index, indices


def _check_gap_junction_sides(*sides):
    """Gap junctions couple membrane potentials: both sides must be neurons whose model
    reports V (mV) as ``V_m``."""
    for neurons in sides:
        parts = neurons.populations if isinstance(neurons, common.Assembly) else [neurons]
        for p in parts:
            ct = p.celltype
            voltage = getattr(ct, "recordable_map", {}).get("v", (None, None))[:2]
            if not hasattr(ct, "model_parameters"):
                raise errors.ConnectionError(
                    f"ElectricalSynapse couples membrane potentials; {p.label!r} "
                    f"({type(ct).__name__}) is a spike source and has none.")
            if tuple(voltage) != (gap.VOLTAGE, 1.0):
                raise NotImplementedError(
                    f"ElectricalSynapse: {type(ct).__name__} does not report its membrane "
                    "potential in mV as the model's V_m.")


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population, connector,
                 synapse_type=None, source=None, receptor_type=None, space=Space(),
                 label=None):
        if getattr(synapse_type, "gap_junction", False):
            _check_gap_junction_sides(presynaptic_population, postsynaptic_population)
        super().__init__(presynaptic_population, postsynaptic_population, connector,
                         synapse_type, source, receptor_type, space, label)
        simulator.state.mark_structure_changed()
        self._ports = self._receptor_labels()
        self._pre_chunks, self._post_chunks, self._value_chunks = [], [], []
        built = build_connections(connector, self)
        if built is not None:
            pre, post, values = built
            self._add(pre, post, self._translate(values, pre.size))
        else:
            connector.connect(self)
        self._finish()
        self._initial_state = {}
        self._values_dirty = False
        simulator.state.projections.append(self)

    # ------------------------------------------------------------------ building
    def _receptor_labels(self):
        """The model input label of the receptor type in every target population."""
        posts = self.post.populations if isinstance(self.post, common.Assembly) else [self.post]
        labels = {}
        for p in posts:
            population = p.grandparent if hasattr(p, "grandparent") else p
            port = population.celltype.receptor_port(self.receptor_type)
            labels[population._index] = f"receptor_{port}"
        return labels

    def _translate(self, values, n):
        if isinstance(self.synapse_type, StandardSynapseType):
            ps = self.synapse_type.translate(ParameterSpace(
                values, self.synapse_type.get_schema(), shape=(n,)))
            ps.evaluate(simplify=False)
            # (a one-connection projection evaluates to 0-d arrays)
            return {name: np.broadcast_to(np.asarray(v, float), (n,)).copy()
                    for name, v in ps.items()}
        return values

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError(
                "pynn_brainpy simulates point neurons only (no location_selector).")
        pre = np.asarray(presynaptic_indices, np.int64).reshape(-1)
        values = {name: np.broadcast_to(np.asarray(v, float), pre.shape).copy()
                  for name, v in connection_parameters.items()}
        self._add(pre, np.full(pre.size, postsynaptic_index, np.int64), values)

    def _add(self, pre, post, values):
        self._pre_chunks.append(pre)
        self._post_chunks.append(post)
        self._value_chunks.append(values)

    def _finish(self):
        names = self.synapse_type.get_native_names() if isinstance(
            self.synapse_type, StandardSynapseType) else list(self.synapse_type.get_schema())
        self._pre = np.concatenate(self._pre_chunks or [np.zeros(0, np.int64)])
        self._post = np.concatenate(self._post_chunks or [np.zeros(0, np.int64)])
        self._values = {name: np.concatenate([c[name] for c in self._value_chunks])
                        if self._value_chunks else np.zeros(0) for name in names}
        del self._pre_chunks, self._post_chunks, self._value_chunks
        self._check_values(self._values)
        if "delay" in self._values:                   # gap junctions have none
            self._values["delay"] = self._round_delays(self._values["delay"])

    def _round_delays(self, delay_ms):
        """Delays on the time grid (NEST's rounding); below one step is an error."""
        dt = simulator.state.dt
        steps = np.floor(np.asarray(delay_ms, float) * (1.0 / dt) + 0.5)
        if steps.size and steps.min() < 1:
            bad = float(np.asarray(delay_ms)[np.argmin(steps)])
            raise errors.ConnectionError(
                f"Projection {self.label!r}: delay {bad} ms is shorter than the time step "
                f"{dt} ms; every delay must be at least one time step.")
        return steps * tics_per_step(dt) / TICS_PER_MS      # as NEST reports delays

    def _check_values(self, values):
        if "weight" in values and values["weight"].size:
            w = values["weight"]
            if not np.all(np.isfinite(w)):
                raise errors.ConnectionError(f"Projection {self.label!r}: weights must be "
                                             "finite.")
            if self._gap and np.any(w < 0):
                raise errors.InvalidParameterValueError(
                    f"Projection {self.label!r}: ElectricalSynapse weight (a conductance) "
                    f"must be >= 0 (got {w.min()} µS).")
            if self.post.conductance_based and np.any(w < 0):
                raise errors.ConnectionError(
                    f"Projection {self.label!r}: weights onto conductance-based synapses must "
                    f"be >= 0 (got {w.min()} µS); choose an inhibitory receptor type instead.")
        if "delay" in values and values["delay"].size and not np.all(
                np.isfinite(values["delay"])):
            raise errors.ConnectionError(f"Projection {self.label!r}: delays must be finite.")

    # ------------------------------------------------------------------ engine
    def _engine_synapses(self, first_index):
        """One engine Synapses record per (source population, target population); they will
        be the network's synapses ``first_index, first_index + 1, ...``."""
        if self._gap:
            self._blocks = []                  # see _engine_gap_junctions
            return []
        steps = ms_to_steps_round(self._values["delay"], simulator.state.dt)
        self._blocks = []
        out = []
        for a, b, sel, pre_idx, post_idx in self._population_pairs():
            population = simulator.state.populations[b]
            # the target population's own indices (post_idx becomes the group's below)
            context = dict(post_population=population, receptor_type=self.receptor_type,
                           post_index=post_idx.copy() if self._plastic else None)
            self._blocks.append((first_index + len(out), sel,
                                 population.celltype.weight_scale, context))
            (pre, pre_cells), (post, post_cells) = (_engine_cells(a, pre_idx),
                                                    _engine_cells(b, post_idx))
            out.append(engine.Synapses(
                pre, post, self._ports[b], pre_cells, post_cells,
                self._values["weight"][sel] * population.celltype.weight_scale,
                steps[sel], self._dynamics(sel, population.celltype.weight_scale, context)))
        return out

    def _population_pairs(self):
        """Per (source population, target population) with connections: their indices,
        the selection of this projection's connections and their pre and post cells (new
        arrays, the caller's to change)."""
        pre_cells, post_cells = _cells_of(self.pre), _cells_of(self.post)
        if not isinstance(self.pre, common.Assembly) and \
                not isinstance(self.post, common.Assembly):
            # one population on each side: every connection is in the one pair (no per-
            # connection masks; with 1e5 cells x 500 inputs these took seconds)
            if self._pre.size:
                yield (int(pre_cells[0][0]), int(post_cells[0][0]), slice(None),
                       pre_cells[1][self._pre], post_cells[1][self._post])
            return
        pre_pop, pre_idx = (a[self._pre] for a in pre_cells)
        post_pop, post_idx = (a[self._post] for a in post_cells)
        for a in np.unique(pre_pop):
            for b in np.unique(post_pop):
                sel = np.flatnonzero((pre_pop == a) & (post_pop == b))
                if sel.size:
                    yield int(a), int(b), sel, pre_idx[sel], post_idx[sel]

    def _engine_gap_junctions(self, first_index):
        """ElectricalSynapse: one engine GapJunctions record per (source population, target
        population), the network's gap junctions ``first_index, first_index + 1, ...``.
        Conductances in nS (µS · 1000); each side's current converted from pA to its model's
        input unit (``current_scale`` is nA -> model unit)."""
        self._gap_blocks = []
        if not self._gap:
            return []
        populations = simulator.state.populations
        out = []
        for a, b, sel, pre_idx, post_idx in self._population_pairs():
            self._gap_blocks.append((first_index + len(out), sel))
            out.append(gap.GapJunctions(
                *_engine_cells(a, pre_idx), *_engine_cells(b, post_idx),
                self._values["weight"][sel] * 1000.0,
                populations[a].celltype.current_scale / 1000.0,
                populations[b].celltype.current_scale / 1000.0))
        return out

    @property
    def _gap(self):
        return getattr(self.synapse_type, "gap_junction", False)

    def _dynamics(self, sel, weight_scale, context):
        """The engine dynamics of plastic/stochastic synapse types (None if static);
        ``context`` tells them the target cells (e.g. for NEST's tau_psc)."""
        make = getattr(self.synapse_type, "engine_dynamics", None)
        if make is None:
            return None
        values = {name: v[sel] for name, v in self._values.items()
                  if name != "weight"}          # delays: STDP needs them
        dynamics = make(values, weight_scale, **context)
        dynamics.initial_values = {name: v[sel] for name, v in self._initial_state.items()}
        return dynamics

    @property
    def _plastic(self):
        return hasattr(self.synapse_type, "engine_dynamics")

    def _sync_from_engine(self):
        """Plastic weights live in the engine: read them back before ``get``."""
        network = simulator.state.network
        if not self._plastic or network is None or simulator.state.structure_dirty or \
                self._values_dirty or \
                not hasattr(self, "_blocks"):
            return
        for index, sel, scale, _ in self._blocks:
            self._values["weight"][sel] = network.synapse_state(index)["weight"] / scale

    def _push_values(self):
        """Hand weight and parameter changes made since the last run to the engine."""
        if not self._values_dirty:
            return
        network = simulator.state.network
        for index, sel in getattr(self, "_gap_blocks", ()):
            network.gap_junctions[index].set_weight(self._values["weight"][sel] * 1000.0)
        for index, sel, scale, context in self._blocks:
            network.set_weights(index, self._values["weight"][sel] * scale)
            if self._plastic:
                network.synapses[index].dynamics.params = self._dynamics(
                    sel, scale, context).params
        self._values_dirty = False

    # ------------------------------------------------------------------ PyNN API
    def __len__(self):
        return int(self._pre.size)

    @property
    def connections(self):
        self._sync_from_engine()
        return [Connection(self, i) for i in range(len(self))]

    def _get_attributes_as_list(self, names):
        self._sync_from_engine()
        columns = []
        for name in names:
            if name == "presynaptic_index":
                columns.append(self._pre)
            elif name == "postsynaptic_index":
                columns.append(self._post)
            else:
                columns.append(self._column(name))
        columns = [c.tolist() for c in columns]       # Python ints and floats
        return list(zip(*columns))

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        self._sync_from_engine()
        combine = {"sum": np.add.at, "min": np.minimum.at, "max": np.maximum.at}
        if multiple_synapses not in combine:
            raise ValueError(f"multiple_synapses must be one of {list(combine)}")
        out = []
        for name in names:
            values = self._column(name)
            start = {"sum": 0.0, "min": np.inf, "max": -np.inf}[multiple_synapses]
            array = np.full((self.pre.size, self.post.size), start)
            combine[multiple_synapses](array, (self._pre, self._post), values)
            mask = np.ones_like(array, bool)
            mask[self._pre, self._post] = False
            array[mask] = np.nan
            out.append(array)
        return out

    def _column(self, name):
        """The values of ``name`` per connection (e.g. ElectricalSynapse has no delay)."""
        if name not in self._values:
            raise errors.NonExistentParameterError(
                name, self.synapse_type.__class__.__name__, list(self._values))
        return self._values[name]

    def _set_attributes(self, parameter_space):
        self._sync_from_engine()
        values = evaluate_on_pairs(parameter_space, self, self._pre, self._post)
        self._update_values(values)

    def _set_connection_values(self, name, index, values):
        """``connection.<name> = value`` for the connections ``index``."""
        self._sync_from_engine()
        column = self._values[name].copy()
        column[index] = values
        self._update_values({name: column})

    def _update_values(self, values):
        values = {name: np.asarray(v, float) for name, v in values.items()}
        unknown = set(values) - set(self._values)
        if unknown:
            raise errors.NonExistentParameterError(
                sorted(unknown)[0], self.synapse_type.__class__.__name__, list(self._values))
        self._check_values(values)
        if "delay" in values:
            rounded = self._round_delays(values["delay"])
            if not np.array_equal(rounded, self._values["delay"]):
                simulator.state.mark_structure_changed()
            values["delay"] = rounded
        self._values.update(values)
        self._values_dirty = True

    def initialize(self, **initial_values):
        """Initial values of synapse state variables (see ``_set_initial_value_array``).
        PyNN 0.13's version shapes them with the method ``Projection.size``; here they get
        one value per connection."""
        for variable, value in initial_values.items():
            lazy = LazyArray(value, shape=(len(self),), dtype=float)
            self._set_initial_value_array(variable, lazy)
            self.initial_values[variable] = lazy

    def _set_initial_value_array(self, variable, initial_value):
        """``Projection.initialize``: initial values of a synapse type's state variables
        (``synapse_type.state_variables``), one per connection, applied at every reset."""
        names = getattr(self.synapse_type, "state_variables", ())
        if variable not in names:
            raise errors.NonExistentParameterError(
                variable, self.synapse_type.__class__.__name__, list(names))
        # a LazyArray of a LazyArray (e.g. a cell type's parameter): shape the inner one
        base = initial_value.base_value
        if isinstance(base, LazyArray):
            base = deepcopy(base)
            base.shape = (len(self),)
            values = base.evaluate(simplify=False)
        else:
            values = LazyArray(base, shape=(len(self),), dtype=float).evaluate(simplify=False)
        values = np.broadcast_to(np.asarray(values, float), (len(self),)).copy()
        if not np.all(np.isfinite(values)):
            raise errors.InvalidParameterValueError(
                f"Projection {self.label!r}: initial {variable} must be finite.")
        self._initial_state[variable] = values
        simulator.state.mark_structure_changed()
