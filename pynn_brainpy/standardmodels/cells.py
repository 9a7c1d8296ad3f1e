"""Cell types of the pynn_brainpy backend: NEST's ``glif_cond`` (Allen GLIF1-5, alpha conductances).

:class:`GLIF_cond` has PyNN names and units. ``native_cell_type('glif_cond')`` gives the same
model with NEST's names and units. Both translate to the keyword arguments of
:class:`pynn_brainpy.models.glif_cond.glif_cond` (the "native" names below).

========================  ======================  ======================  =================
PyNN (GLIF_cond)          model keyword           native type (NEST)      conversion
========================  ======================  ======================  =================
v_rest [mV]               E_L [mV]                E_L                     identity
cm [nF]                   C_m [pF]                C_m                     x1000
tau_m [ms]                g [nS]                  g_m                     g = 1000 cm/tau_m
v_thresh [mV]             V_th [mV]               V_th                    identity
v_reset [mV]              V_reset [mV]            V_reset                 identity
tau_refrac [ms]           t_ref [ms]              t_ref                   identity
i_offset [nA]             I_e [pA]                I_e (not in NEST)       x1000
tau_syn [ms], per port    tau_syn [ms]            tau_syn                 identity
e_rev [mV], per port      E_rev [mV]              E_rev                   identity
th_spike_add [mV]         th_spike_add            th_spike_add            identity
th_spike_decay [1/ms]     th_spike_decay          th_spike_decay          identity
voltage_reset_fraction    voltage_reset_fraction  voltage_reset_fraction  identity
voltage_reset_add [mV]    voltage_reset_add       voltage_reset_add       identity
th_voltage_index [1/ms]   th_voltage_index        th_voltage_index        identity
th_voltage_decay [1/ms]   th_voltage_decay        th_voltage_decay        identity
asc_init [nA], vector     asc_init [pA]           asc_init                x1000
asc_decay [1/ms], vector  asc_decay               asc_decay               identity
asc_amps [nA], vector     asc_amps [pA]           asc_amps                x1000
asc_r, vector             asc_r                   asc_r                   identity
the three flags (bool)    same names              same names              identity
========================  ======================  ======================  =================

The flags are ``spike_dependent_threshold``, ``after_spike_currents`` and
``adapting_threshold`` (GLIF1..5, see :meth:`GLIF_cond.variant`).

``asc_init`` (the initial after-spike currents) is a *parameter*, not an initial value: PyNN
0.13's ``Population.initialize`` stores every initial value as ``LazyArray(..., dtype=float)``,
which cannot hold a vector per cell.

The number of synaptic ports is ``len(tau_syn)``; the receptor types are ``receptor_0`` ...
``receptor_{n-1}`` plus ``excitatory`` (port 0) and, for n >= 2, ``inhibitory`` (port 1).
PyNN weights are in uS for :class:`GLIF_cond` (x1000 to the model's nS) and in nS for the
native type.
"""

import re
from copy import deepcopy

import numpy as np
from lazyarray import larray
from pyNN import errors
from pyNN.parameters import ArrayParameter, ParameterSpace
from pyNN.standardmodels import StandardCellType, build_translations

from ..models.glif_cond import GLIF_VARIANTS, glif_cond, validate_parameters

__all__ = ["GLIF_cond", "native_cell_type", "validate_native", "FLAGS", "MODEL_PARAMETERS",
           "UnknownNativeModelError"]

#: The mechanism flags, in the order of ``GLIF_VARIANTS`` keys.
FLAGS = ("spike_dependent_threshold", "after_spike_currents", "adapting_threshold")
_SCALARS = ("g", "E_L", "V_th", "V_reset", "C_m", "t_ref", "th_spike_add", "th_spike_decay",
            "voltage_reset_fraction", "voltage_reset_add", "th_voltage_index",
            "th_voltage_decay", "I_e")
_VECTORS = ("asc_init", "asc_decay", "asc_amps", "asc_r", "tau_syn", "E_rev")
#: Keyword arguments of the model that ``validate_native`` expects and returns.
MODEL_PARAMETERS = _SCALARS + _VECTORS + FLAGS
_VARIANT_FLAGS = {number: flags for flags, number in GLIF_VARIANTS.items()}


# ------------------------------------------------------------------------ validation
def _annotate(message: str, names: dict) -> str:
    """Append the user-facing names of the model parameters named in ``message``."""
    parts = message.split(": ", 2)
    if len(parts) < 3 or not names:
        return message
    model_names = parts[1].split(", ")
    user_names = [names.get(n, n) for n in model_names]
    if user_names == model_names:
        return message
    return f"{message} (PyNN parameter: {', '.join(user_names)})"


def _per_cell_vectors(name, value, n_cells) -> np.ndarray:
    """(n_cells, n) float array from an ArrayParameter, an array of them, or numbers."""
    if isinstance(value, ArrayParameter):
        rows = np.asarray(value.value, float).reshape(1, -1)
    elif isinstance(value, (list, tuple, np.ndarray)) and any(
            isinstance(x, ArrayParameter) for x in np.ravel(np.asarray(value, object))):
        items = [np.ravel(np.asarray(getattr(x, "value", x), float))
                 for x in np.ravel(np.asarray(value, object))]
        sizes = sorted({x.size for x in items})
        if len(sizes) > 1:
            raise errors.InvalidParameterValueError(
                f"glif_cond: {name}: all cells of a population must have the same number of "
                f"values (got lengths {sizes}).")
        rows = np.stack(items) if items else np.zeros((0, 0))
    else:
        rows = np.asarray(value, float)
        if rows.ndim < 2:
            rows = rows.reshape(1, -1)
    try:
        return np.broadcast_to(rows, (n_cells, rows.shape[-1])).astype(float)
    except ValueError:
        raise errors.InvalidParameterValueError(
            f"glif_cond: {name}: expected one vector or one vector per cell ({n_cells} cells), "
            f"got an array of shape {rows.shape}.") from None


def validate_native(native_params, n_cells: int, names: dict = None) -> dict:
    """Check model-unit parameters and return them as ``glif_cond`` keyword arguments.

    ``native_params`` maps the model's keyword names (:data:`MODEL_PARAMETERS`) to values for
    ``n_cells`` cells: numbers, per-cell arrays, ``ArrayParameter`` s, per-cell arrays of
    ``ArrayParameter`` s or (n_cells, n) arrays. A ``ParameterSpace`` (e.g.
    ``celltype.native_parameters``) is evaluated first. ``names`` optionally maps model names
    to user-facing names, which are appended to error messages.

    Returns a dict with scalars as float arrays of shape (n_cells,), vectors as (n_cells, n)
    and the three flags as Python bools, ready for ``glif_cond(n_cells, **kwargs)``.

    Raises ``pyNN.errors.InvalidParameterValueError`` (a ``ValueError``) carrying the model's
    message (spec §2) for an invalid value or flag combination, non-finite values, flags that
    differ between cells, or vectors of different lengths in one population.
    """
    try:
        if isinstance(native_params, ParameterSpace):
            ps = deepcopy(native_params)   # random distributions stay shared: drawn once here
            ps.shape = (n_cells,)
            native_params = ps.evaluate(simplify=True).as_dict()
        params = dict(native_params)
        for key, value in params.items():
            if isinstance(value, larray):
                value = deepcopy(value)
                value.shape = (n_cells,)
                params[key] = value.evaluate(simplify=True)
    except ZeroDivisionError:
        raise errors.InvalidParameterValueError(_annotate(
            "glif_cond: g: division by zero while translating the parameters.", names)) from None
    missing = [k for k in MODEL_PARAMETERS if k not in params]
    unknown = [k for k in params if k not in MODEL_PARAMETERS]
    if missing or unknown:
        raise errors.InvalidParameterValueError(
            f"glif_cond: missing parameters {missing}, unknown parameters {unknown}.")
    out = {}
    for name in FLAGS:
        values = np.unique(np.asarray(params[name]).astype(bool))
        if values.size > 1:
            raise errors.InvalidParameterValueError(_annotate(
                f"glif_cond: {name}: the GLIF variant flags must be the same for all cells of a "
                "population (got both True and False); use one population per variant.", names))
        out[name] = bool(values[0]) if values.size else False
    for name in _SCALARS:
        try:
            out[name] = np.broadcast_to(np.asarray(params[name], float), (n_cells,)).copy()
        except (ValueError, TypeError):
            raise errors.InvalidParameterValueError(_annotate(
                f"glif_cond: {name}: expected a number or one number per cell ({n_cells} "
                f"cells), got {params[name]!r}.", names)) from None
    for name in _VECTORS:
        out[name] = _per_cell_vectors(name, params[name], n_cells)
    for name in _SCALARS + _VECTORS:
        bad = ~np.isfinite(out[name])
        if bad.any():
            raise errors.InvalidParameterValueError(_annotate(
                f"glif_cond: {name}: must be finite (got {out[name][bad].tolist()!r}).", names))
    try:
        validate_parameters(out, [out[f] for f in FLAGS])
    except ValueError as err:
        raise errors.InvalidParameterValueError(_annotate(str(err), names)) from err
    return out


# ------------------------------------------------------------------------ shared behaviour
def _vector_length(lazy, name: str) -> int:
    """Length of the vector parameter ``name`` (same for every cell) from its lazy array."""
    base = getattr(lazy, "base_value", lazy)
    if isinstance(base, ArrayParameter):
        return int(np.size(base.value))
    if isinstance(base, (list, tuple, np.ndarray)):
        flat = np.ravel(np.asarray(base, object))
        sizes = {int(np.size(getattr(x, "value", x))) for x in flat}
        if all(isinstance(x, ArrayParameter) for x in flat) and len(sizes) == 1:
            return sizes.pop()
        if len(sizes) > 1:
            raise errors.InvalidParameterValueError(
                f"glif_cond: {name}: all cells of a population must have the same number of "
                f"synaptic ports (got lengths {sorted(sizes)}).")
        return int(np.shape(base)[-1]) if np.ndim(base) else 1
    raise errors.InvalidParameterValueError(
        f"glif_cond: {name}: give a list of numbers (or one list per cell); the number of "
        f"synaptic ports cannot be read from {base!r}.")


class _GLIFCondBase(StandardCellType):
    """Receptors, recordables, validation and the model interface shared by both cell types.

    Subclasses set ``translations``, ``default_parameters``, ``default_initial_values``,
    ``weight_scale`` and the ``_recordables`` / ``_port_recordable`` / ``_parameter_units``
    tables.
    """

    model = glif_cond                     #: the brainstate model class
    conductance_based = True
    injectable = True
    weight_scale = 1.0                    #: PyNN weight unit -> model nS
    current_scale = 1000.0                #: PyNN current unit (nA) -> model pA
    #: initial value name -> (model state, factor to model units); the model takes ``V_m``
    #: (absolute mV) as ``V_initializer``.
    initial_value_map = {}
    _recordables = {}                     # fixed PyNN name -> (model name, factor, unit)
    _port_recordable = ("", 1.0, "")      # per-port name (format of k, k1=k+1), factor, unit
    _port_aliases = {}                    # alias recordable -> port
    _parameter_units = {}

    def __init__(self, **parameters):
        super().__init__(**parameters)
        if self.parameter_space.is_homogeneous:   # per-cell values are checked per population
            self.translate(self.parameter_space)

    # ---------------------------------------------------------------- ports
    @property
    def n_ports(self) -> int:
        """Number of synaptic ports: the length of this cell type's ``tau_syn``."""
        return _vector_length(self.parameter_space["tau_syn"], "tau_syn")

    @property
    def receptor_types(self):
        """``receptor_0`` ... ``receptor_{n-1}``, then ``excitatory`` and ``inhibitory``."""
        n = self.n_ports
        return ([f"receptor_{k}" for k in range(n)] + ["excitatory"] * (n >= 1)
                + ["inhibitory"] * (n >= 2))

    def receptor_port(self, name: str) -> int:
        """0-based model port of a receptor type (the model's input label is
        ``f"receptor_{port}"``); ``pyNN.errors.ConnectionError`` if there is none."""
        n = self.n_ports
        port = {"excitatory": 0, "inhibitory": 1}.get(name)
        match = re.fullmatch(r"receptor_(0|[1-9][0-9]*)", str(name))
        if match:
            port = int(match.group(1))
        if port is None or port >= n:
            raise errors.ConnectionError(
                f"{self.__class__.__name__} with {n} synaptic port(s) has no receptor type "
                f"{name!r}; valid types: {self.receptor_types}.")
        return port

    # ---------------------------------------------------------------- recordables
    @property
    def recordable_map(self) -> dict:
        """PyNN recordable -> (model recordable name, factor to PyNN units, PyNN unit).

        The model recordable is read with ``glif_cond.recordable(name)``; ``spikes`` is not
        listed (it is the model's spike output).
        """
        fmt, factor, unit = self._port_recordable
        fixed = list(self._recordables.items())
        out = dict(fixed[:1])                        # the membrane potential first
        out.update({fmt.format(k=k, k1=k + 1): (f"g_{k + 1}", factor, unit)
                    for k in range(self.n_ports)})
        for alias, port in self._port_aliases.items():
            if port < self.n_ports:
                out[alias] = (f"g_{port + 1}", factor, unit)
        out.update(fixed[1:])
        return out

    @property
    def recordable(self):
        return ["spikes"] + list(self.recordable_map)

    @property
    def variable_map(self):
        return {k: v[0] for k, v in self.recordable_map.items()}

    @property
    def scale_factors(self):
        return {k: v[1] for k, v in self.recordable_map.items()}

    @property
    def units(self):
        units = dict(self._parameter_units)
        units.update({k: v[2] for k, v in self.recordable_map.items()})
        units.update({k: units[k] for k in self.default_initial_values if k in units})
        return units

    # ---------------------------------------------------------------- variants
    @property
    def flags(self):
        """(spike_dependent_threshold, after_spike_currents, adapting_threshold)."""
        out = []
        for name in FLAGS:
            lazy = self.parameter_space[name]
            if not lazy.is_homogeneous:
                values = np.unique(np.asarray(lazy.base_value).astype(bool))
                if values.size > 1:
                    raise errors.InvalidParameterValueError(
                        f"glif_cond: {name}: the GLIF variant flags must be the same for all "
                        "cells of a population.")
                out.append(bool(values[0]))
            else:
                out.append(bool(lazy.base_value))
        return tuple(out)

    @property
    def glif_variant(self) -> int:
        """1..5, the GLIF variant selected by the flags."""
        try:
            return GLIF_VARIANTS[self.flags]
        except KeyError:
            raise errors.InvalidParameterValueError(
                f"glif_cond: {', '.join(FLAGS)}: {self.flags} is not a GLIF variant.") from None

    @classmethod
    def variant(cls, number: int, **parameters):
        """A cell type of GLIF variant ``number`` (1..5): the three flags are set for you."""
        if number not in _VARIANT_FLAGS:
            raise errors.InvalidParameterValueError(
                f"GLIF variant must be one of 1..5, got {number!r}.")
        given = [f for f in FLAGS if f in parameters]
        if given:
            raise errors.InvalidParameterValueError(
                f"{cls.__name__}.variant({number}) sets {given} itself; do not pass them.")
        return cls(**dict(zip(FLAGS, _VARIANT_FLAGS[number])), **parameters)

    # ---------------------------------------------------------------- translation
    def _user_names(self) -> dict:
        return {D["translated_name"]: name for name, D in self.translations.items()}

    def translate(self, parameters, copy=True):
        """PyNN's translation, then, when every parameter is present and homogeneous, the
        model's checks (``InvalidParameterValueError``). Heterogeneous values are checked by
        :meth:`model_kwargs` / :func:`validate_native`."""
        native = super().translate(parameters, copy=copy)
        if set(native.keys()) >= set(MODEL_PARAMETERS) and native.is_homogeneous:
            validate_native(native, 1, self._user_names())
        return native

    def model_kwargs(self, n_cells: int, parameters: ParameterSpace = None) -> dict:
        """Validated keyword arguments for ``glif_cond(n_cells, **kwargs)``.

        ``parameters`` (this type's names; default: ``self.parameter_space``) is translated,
        evaluated for ``n_cells`` cells and checked with :func:`validate_native`.
        """
        ps = self.translate(parameters if parameters is not None else self.parameter_space)
        return validate_native(ps, n_cells, self._user_names())

    def model_parameters(self, native_parameters: dict, n_cells: int) -> dict:
        """The validated model keyword arguments of stored translated values."""
        return validate_native(native_parameters, n_cells, self._user_names())


# ------------------------------------------------------------------------ standard type
class GLIF_cond(_GLIFCondBase):
    """Allen Institute GLIF1-5 neuron with alpha-shaped conductances (NEST's ``glif_cond``).

    Leaky integrate-and-fire with, depending on three flags, a spike-triggered threshold
    component with a "biological" voltage reset (``spike_dependent_threshold``), after-spike
    currents (``after_spike_currents``) and a voltage-dependent threshold component
    (``adapting_threshold``): GLIF1 (F,F,F), GLIF2 (T,F,F), GLIF3 (F,T,F), GLIF4 (T,T,F),
    GLIF5 (T,T,T); see :meth:`variant`. It has ``len(tau_syn)`` conductance ports with reversal
    potentials ``e_rev``; a spike of weight w (uS) makes that port's conductance peak at w
    ``tau_syn`` after it.

    Parameters (defaults: NEST's, Allen cell 490626718): ``v_rest`` (mV), ``cm`` (nF),
    ``tau_m`` (ms), ``v_thresh``, ``v_reset`` (mV; the reset of GLIF1/3), ``tau_refrac`` (ms),
    ``i_offset`` (nA), ``tau_syn`` (ms, per port), ``e_rev`` (mV, per port), ``th_spike_add``
    (mV), ``th_spike_decay`` (1/ms), ``voltage_reset_fraction``, ``voltage_reset_add`` (mV),
    ``th_voltage_index``, ``th_voltage_decay`` (1/ms), ``asc_init`` (nA, initial after-spike
    currents), ``asc_decay`` (1/ms), ``asc_amps`` (nA), ``asc_r``, and the three flags.

    Initial value ``v`` (mV). Recordables: ``spikes``, ``v``, ``gsyn_receptor_<k>`` (uS, and
    ``gsyn_exc``/``gsyn_inh`` for ports 0/1), ``threshold`` (absolute), ``threshold_spike``,
    ``threshold_voltage`` (mV, relative to ``v_rest``), ``asc_sum`` (nA).
    """

    default_parameters = {
        "v_rest": -78.85,
        "cm": 58.72 / 1000.0,            # NEST's values / 1000, so that x1000 gives them back
        "tau_m": 58.72 / 9.43,
        "v_thresh": -51.68,
        "v_reset": -78.85,
        "tau_refrac": 3.75,
        "i_offset": 0.0,
        "tau_syn": ArrayParameter([0.2, 2.0]),
        "e_rev": ArrayParameter([0.0, -85.0]),
        "th_spike_add": 0.37,
        "th_spike_decay": 0.009,
        "voltage_reset_fraction": 0.2,
        "voltage_reset_add": 18.51,
        "th_voltage_index": 0.005,
        "th_voltage_decay": 0.09,
        "asc_init": ArrayParameter([0.0, 0.0]),
        "asc_decay": ArrayParameter([0.003, 0.1]),
        "asc_amps": ArrayParameter(np.array([-9.18, -198.94]) / 1000.0),
        "asc_r": ArrayParameter([1.0, 1.0]),
        "spike_dependent_threshold": False,
        "after_spike_currents": False,
        "adapting_threshold": False,
    }
    default_initial_values = {"v": -78.85}
    initial_value_map = {"v": ("V_m", 1.0)}
    weight_scale = 1000.0                # uS -> nS

    # cm is "computed" rather than "scaled" so that Population.set(cm=...) keeps tau_m.
    translations = build_translations(
        ("v_rest", "E_L"),
        ("cm", "C_m", lambda **p: p["cm"] * 1000.0, lambda **p: p["C_m"] / 1000.0),
        ("tau_m", "g", lambda **p: 1000.0 * p["cm"] / p["tau_m"], lambda **p: p["C_m"] / p["g"]),
        ("v_thresh", "V_th"),
        ("v_reset", "V_reset"),
        ("tau_refrac", "t_ref"),
        ("i_offset", "I_e", 1000.0),
        ("tau_syn", "tau_syn"),
        ("e_rev", "E_rev"),
        ("th_spike_add", "th_spike_add"),
        ("th_spike_decay", "th_spike_decay"),
        ("voltage_reset_fraction", "voltage_reset_fraction"),
        ("voltage_reset_add", "voltage_reset_add"),
        ("th_voltage_index", "th_voltage_index"),
        ("th_voltage_decay", "th_voltage_decay"),
        ("asc_init", "asc_init", 1000.0),
        ("asc_decay", "asc_decay"),
        ("asc_amps", "asc_amps", 1000.0),
        ("asc_r", "asc_r"),
        *((f, f) for f in FLAGS),
    )
    _recordables = {
        "v": ("V_m", 1.0, "mV"),
        "threshold": ("threshold", 1.0, "mV"),
        "threshold_spike": ("threshold_spike", 1.0, "mV"),
        "threshold_voltage": ("threshold_voltage", 1.0, "mV"),
        "asc_sum": ("ASCurrents_sum", 0.001, "nA"),
    }
    _port_recordable = ("gsyn_receptor_{k}", 0.001, "uS")
    _port_aliases = {"gsyn_exc": 0, "gsyn_inh": 1}
    _parameter_units = {
        "v_rest": "mV", "cm": "nF", "tau_m": "ms", "v_thresh": "mV", "v_reset": "mV",
        "tau_refrac": "ms", "i_offset": "nA", "tau_syn": "ms", "e_rev": "mV",
        "th_spike_add": "mV", "th_spike_decay": "/ms", "voltage_reset_fraction": "dimensionless",
        "voltage_reset_add": "mV", "th_voltage_index": "/ms", "th_voltage_decay": "/ms",
        "asc_init": "nA", "asc_decay": "/ms", "asc_amps": "nA", "asc_r": "dimensionless",
        **{f: "dimensionless" for f in FLAGS},
    }


# ------------------------------------------------------------------------ native type
class UnknownNativeModelError(errors.NoModelAvailableError, ValueError):
    """``native_cell_type`` was asked for a model this backend does not have."""


class _GLIFCondNative(_GLIFCondBase):
    """NEST's ``glif_cond`` under NEST's names and units (mV, pF, nS, pA, ms, 1/ms).

    Parameters and defaults are NEST 3.10's (``g_m`` is the leak conductance, model ``g``),
    plus ``I_e`` (pA, default 0), which NEST's glif_cond lacks. ``asc_init`` is the initial
    after-spike current here (NEST ignores it unless its state ``ASCurrents`` is set). Initial
    value ``V_m`` (mV). Recordables: NEST's ``V_m``, ``g_1`` ... ``g_n`` (nS), ``threshold``,
    ``threshold_spike``, ``threshold_voltage`` (mV), ``ASCurrents_sum``, ``I`` (pA) and
    ``spikes``. Weights are in nS.
    """

    default_parameters = {
        "g_m": 9.43, "E_L": -78.85, "V_th": -51.68, "V_reset": -78.85, "C_m": 58.72,
        "t_ref": 3.75, "th_spike_add": 0.37, "th_spike_decay": 0.009,
        "voltage_reset_fraction": 0.2, "voltage_reset_add": 18.51, "th_voltage_index": 0.005,
        "th_voltage_decay": 0.09,
        "asc_init": ArrayParameter([0.0, 0.0]), "asc_decay": ArrayParameter([0.003, 0.1]),
        "asc_amps": ArrayParameter([-9.18, -198.94]), "asc_r": ArrayParameter([1.0, 1.0]),
        "tau_syn": ArrayParameter([0.2, 2.0]), "E_rev": ArrayParameter([0.0, -85.0]),
        "spike_dependent_threshold": False, "after_spike_currents": False,
        "adapting_threshold": False, "I_e": 0.0,
    }
    default_initial_values = {"V_m": -78.85}
    initial_value_map = {"V_m": ("V_m", 1.0)}
    weight_scale = 1.0                   # nS
    translations = build_translations(
        ("g_m", "g"), *((name, name) for name in default_parameters if name != "g_m"))
    _recordables = {
        "V_m": ("V_m", 1.0, "mV"),
        "threshold": ("threshold", 1.0, "mV"),
        "threshold_spike": ("threshold_spike", 1.0, "mV"),
        "threshold_voltage": ("threshold_voltage", 1.0, "mV"),
        "ASCurrents_sum": ("ASCurrents_sum", 1.0, "pA"),
        "I": ("I", 1.0, "pA"),
    }
    _port_recordable = ("g_{k1}", 1.0, "nS")
    _parameter_units = {
        "g_m": "nS", "E_L": "mV", "V_th": "mV", "V_reset": "mV", "C_m": "pF", "t_ref": "ms",
        "th_spike_add": "mV", "th_spike_decay": "/ms", "voltage_reset_fraction": "dimensionless",
        "voltage_reset_add": "mV", "th_voltage_index": "/ms", "th_voltage_decay": "/ms",
        "asc_init": "pA", "asc_decay": "/ms", "asc_amps": "pA", "asc_r": "dimensionless",
        "tau_syn": "ms", "E_rev": "mV", "I_e": "pA", **{f: "dimensionless" for f in FLAGS},
    }


_NATIVE_TYPES = {"glif_cond": type("glif_cond", (_GLIFCondNative,),
                                   {"__doc__": _GLIFCondNative.__doc__,
                                    "__module__": __name__})}


def native_cell_type(model_name: str):
    """The cell type class of a model under its native (NEST) names; only ``'glif_cond'``.

    Repeated calls return the same class. Unknown names raise
    :class:`UnknownNativeModelError` (a ``pyNN.errors.NoModelAvailableError`` and
    ``ValueError``).
    """
    try:
        return _NATIVE_TYPES[model_name]
    except (KeyError, TypeError):
        raise UnknownNativeModelError(
            f"No native cell type {model_name!r} in pynn_brainpy; available: "
            f"{sorted(_NATIVE_TYPES)}.") from None
