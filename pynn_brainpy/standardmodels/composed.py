"""PyNN's composed cell type ``PointNeuron(neuron, **receptors)`` and its components.

``PointNeuron(LIF(...) or AdExp(...), AMPA=CondAlphaPostSynapticResponse(...), ...)``: a
neuron component plus one post-synaptic response per receptor name. The receptor names are
the projections' ``receptor_type`` s; in sorted order they are the model's ports
``receptor_0, receptor_1, …`` (pyNN.nest's NEST ``receptor_type`` 1, 2, …).

=====================================  ==================================================
components                             model (:mod:`pynn_brainpy.models.point_neuron`)
=====================================  ==================================================
LIF + CurrExp…                         ``iaf_psc_exp_multisynapse`` (as pyNN.nest)
AdExp + CondAlpha…                     ``aeif_cond_alpha_multisynapse`` (as pyNN.nest)
AdExp + CondBeta…                      ``aeif_cond_beta_multisynapse`` (as pyNN.nest)
AdExp + CondExp… / a mix of Cond…      ``aeif_cond_beta_multisynapse`` with exponential
                                       ports (``tau_rise = 0``) and alpha ports
                                       (``tau_rise = tau_decay``); pyNN.nest has no model
=====================================  ==================================================

Other combinations (LIF with conductances, AdExp with currents, current and conductance
responses mixed) raise ``NoModelAvailableError``, as in pyNN.nest.

Parameters are PyNN's, the receptors' under dotted names (``"AMPA.tau_syn"``,
``"AMPA.e_syn"``, ``"GABA.tau_rise"``…), for ``Population.get/set`` and the constructor
alike; ``locations`` (for multicompartment neurons) is not a parameter of a point neuron.
Translations are pyNN.nest's (nF→pF, nA→pA ×1000, ``g_L = 1000·cm/tau_m`` for AdExp), with
``cm`` of AdExp computed so that ``set(cm=...)`` keeps ``tau_m``. Recordables: ``v``, ``w``
(AdExp, nA) and per receptor ``"<name>.gsyn"`` (µS) or ``"<name>.isyn"`` (nA). Weights are in
µS (conductance responses) or nA (current responses), ×1000 to the model's nS / pA.
"""

from copy import deepcopy

import numpy as np
from pyNN import errors
from pyNN.parameters import ParameterSpace
from pyNN.standardmodels import StandardModelType, build_translations, cells, receptors

from ..models.point_neuron import (aeif_cond_alpha_multisynapse, aeif_cond_beta_multisynapse,
                                   iaf_psc_exp_multisynapse)
from .base import ModelCellType

__all__ = ["PointNeuron", "LIF", "AdExp", "CurrExpPostSynapticResponse",
           "CondExpPostSynapticResponse", "CondAlphaPostSynapticResponse",
           "CondBetaPostSynapticResponse", "ExpPSR", "AlphaPSR", "BetaPSR"]


# ------------------------------------------------------------------ neuron components
class LIF(cells.LIF):
    __doc__ = cells.LIF.__doc__
    translations = build_translations(
        ("v_rest", "E_L"),
        ("v_reset", "V_reset"),
        ("cm", "C_m", 1000.0),
        ("tau_m", "tau_m"),
        ("tau_refrac", "t_ref"),
        ("v_thresh", "V_th"),
        ("i_offset", "I_e", 1000.0),
    )
    recordable_map = {"v": ("V_m", 1.0, "mV")}
    initial_value_map = {"v": ("V_m", 1.0)}
    models = {"current": iaf_psc_exp_multisynapse}


class AdExp(cells.AdExp):
    __doc__ = cells.AdExp.__doc__
    translations = build_translations(
        ("cm", "C_m", lambda **p: p["cm"] * 1000.0, lambda **p: p["C_m"] / 1000.0),
        ("tau_refrac", "t_ref"),
        ("v_spike", "V_peak"),
        ("v_reset", "V_reset"),
        ("v_rest", "E_L"),
        ("tau_m", "g_L", "cm/tau_m*1000.0", "C_m/g_L"),
        ("i_offset", "I_e", 1000.0),
        ("a", "a"),
        ("b", "b", 1000.0),
        ("delta_T", "Delta_T"),
        ("tau_w", "tau_w"),
        ("v_thresh", "V_th"),
    )
    recordable_map = {"v": ("V_m", 1.0, "mV"), "w": ("w", 0.001, "nA")}
    initial_value_map = {"v": ("V_m", 1.0), "w": ("w", 1000.0)}
    models = {"alpha": aeif_cond_alpha_multisynapse, "conductance": aeif_cond_beta_multisynapse}


# ------------------------------------------------------------------ post-synaptic responses
def _model_rows(psr, native, name, n):
    """The receptor's model parameters (one array of n values each) from its stored values."""
    get = lambda key: np.broadcast_to(np.asarray(native[f"{name}.{key}"], float), (n,))
    return psr.model_rows(get, n)


class CurrExpPostSynapticResponse(receptors.CurrExpPostSynapticResponse):
    __doc__ = receptors.CurrExpPostSynapticResponse.__doc__
    translations = build_translations(("tau_syn", "tau_syn"))
    recordable = ["isyn"]
    variable = ("I_syn", 0.001, "nA")
    kind = "current"

    @staticmethod
    def model_rows(get, n):
        return {"tau_syn": get("tau_syn")}


class CondExpPostSynapticResponse(receptors.CondExpPostSynapticResponse):
    __doc__ = receptors.CondExpPostSynapticResponse.__doc__
    translations = build_translations(("e_syn", "E_rev"), ("tau_syn", "tau_syn"))
    recordable = ["gsyn"]
    variable = ("g", 0.001, "uS")
    kind = "exp"

    @staticmethod
    def model_rows(get, n):
        return {"E_rev": get("E_rev"), "tau_rise": np.zeros(n), "tau_decay": get("tau_syn")}


class CondAlphaPostSynapticResponse(receptors.CondAlphaPostSynapticResponse):
    __doc__ = receptors.CondAlphaPostSynapticResponse.__doc__
    translations = build_translations(("e_syn", "E_rev"), ("tau_syn", "tau_syn"))
    recordable = ["gsyn"]
    variable = ("g", 0.001, "uS")
    kind = "alpha"

    @staticmethod
    def model_rows(get, n):
        return {"E_rev": get("E_rev"), "tau_rise": get("tau_syn"),
                "tau_decay": get("tau_syn"), "tau_syn": get("tau_syn")}


class CondBetaPostSynapticResponse(receptors.CondBetaPostSynapticResponse):
    __doc__ = receptors.CondBetaPostSynapticResponse.__doc__
    translations = build_translations(("e_syn", "E_rev"), ("tau_rise", "tau_rise"),
                                      ("tau_decay", "tau_decay"))
    recordable = ["gsyn"]
    variable = ("g", 0.001, "uS")
    kind = "beta"

    @staticmethod
    def model_rows(get, n):
        return {"E_rev": get("E_rev"), "tau_rise": get("tau_rise"),
                "tau_decay": get("tau_decay")}


ExpPSR = CondExpPostSynapticResponse
AlphaPSR = CondAlphaPostSynapticResponse
BetaPSR = CondBetaPostSynapticResponse

_STANDARD_PSR = {receptors.CurrExpPostSynapticResponse: CurrExpPostSynapticResponse,
                 receptors.CondExpPostSynapticResponse: CondExpPostSynapticResponse,
                 receptors.CondAlphaPostSynapticResponse: CondAlphaPostSynapticResponse,
                 receptors.CondBetaPostSynapticResponse: CondBetaPostSynapticResponse}
_STANDARD_NEURON = {cells.LIF: LIF, cells.AdExp: AdExp}


def _ours(component, table, what):
    """This backend's class for a component (PyNN's generic class is accepted too)."""
    if type(component) in table.values():
        return component
    cls = table.get(type(component))
    if cls is None:
        raise errors.NoModelAvailableError(
            f"PointNeuron: pynn_brainpy has no {what} {type(component).__name__}; available: "
            f"{sorted(c.__name__ for c in table.values())}.")
    new = cls.__new__(cls)
    new.__dict__.update(deepcopy(component.__dict__))
    return new


def _renamed(translations, prefix):
    """A component's translations under ``prefix.`` names, as callables (string transforms
    cannot name dotted parameters)."""
    out = {}
    for name, D in translations.items():
        tname = D["translated_name"]

        def forward(_f=D["forward_transform"], _names=list(translations), **p):
            local = {k: p[f"{prefix}.{k}"] for k in _names if f"{prefix}.{k}" in p}
            return _f(**local) if callable(_f) else eval(_f, {}, local)

        native_names = [d["translated_name"] for d in translations.values()]

        def reverse(_g=D["reverse_transform"], _names=native_names, **p):
            local = {k: p[f"{prefix}.{k}"] for k in _names if f"{prefix}.{k}" in p}
            return _g(**local) if callable(_g) else eval(_g, {}, local)

        out[f"{prefix}.{name}"] = {"translated_name": f"{prefix}.{tname}",
                                   "forward_transform": forward, "reverse_transform": reverse,
                                   "type": D["type"]}
    return out


# ------------------------------------------------------------------ the composed cell type
class PointNeuron(ModelCellType, cells.PointNeuron):
    """A point neuron composed of a neuron (``LIF`` or ``AdExp``) and named post-synaptic
    responses (``CurrExp``, ``CondExp``, ``CondAlpha``, ``CondBeta``…), e.g.::

        PointNeuron(AdExp(tau_m=10.0), AMPA=AlphaPSR(tau_syn=1.0, e_syn=0.0),
                    GABA=AlphaPSR(tau_syn=5.0, e_syn=-70.0))

    Simulated by NEST's multisynapse model that pyNN.nest uses for the combination (see
    :mod:`pynn_brainpy.standardmodels.composed`); the receptor names are the projections'
    ``receptor_type`` s, the receptors' parameters are ``"<name>.<parameter>"``.
    """

    weight_scale = 1000.0      # uS -> nS, nA -> pA
    current_scale = 1000.0     # nA -> pA

    def __init__(self, neuron, **post_synaptic_receptors):
        if not post_synaptic_receptors:
            raise errors.NoModelAvailableError(
                "PointNeuron needs at least one post-synaptic response (e.g. "
                "AMPA=CondAlphaPostSynapticResponse()).")
        neuron = _ours(neuron, _STANDARD_NEURON, "neuron component")
        psrs = {name: _ours(psr, _STANDARD_PSR, "post-synaptic response")
                for name, psr in post_synaptic_receptors.items()}
        for name in psrs:
            if "." in name or not name:
                raise errors.InvalidParameterValueError(
                    f"PointNeuron: receptor name {name!r} must be non-empty and contain no '.'.")
        super().__init__(neuron, **psrs)
        self.model = self._choose_model()
        self.receptor_ports = {name: k for k, name in enumerate(self.receptor_types)}
        # one flat table of translations and schema, receptors under dotted names
        self.translations = dict(neuron.translations)
        self._schema = dict(neuron.get_schema())
        for name, psr in psrs.items():
            self.translations.update(_renamed(psr.translations, name))
            for pname in psr.translations:
                self._schema[f"{name}.{pname}"] = float
        flat = {key: value for key, value in self.parameter_space.items()
                if not isinstance(value, ParameterSpace)}
        for name, psr in psrs.items():
            for pname in psr.translations:
                flat[f"{name}.{pname}"] = psr.parameter_space[pname]
        self.parameter_space = ParameterSpace({}, self._schema, shape=None,
                                              component=self.__class__)
        for key, value in flat.items():
            self.parameter_space._parameters[key] = deepcopy(value)
        self.default_parameters = {**neuron.default_parameters, **{
            f"{name}.{pname}": psr.default_parameters[pname]
            for name, psr in psrs.items() for pname in psr.translations}}
        self.recordable_map = dict(neuron.recordable_map)
        self.initial_value_map = dict(neuron.initial_value_map)
        for name, k in self.receptor_ports.items():
            psr = psrs[name]
            variable, factor, unit = psr.variable
            pyname = f"{name}.{psr.recordable[0]}"
            self.recordable_map[pyname] = (f"{variable}_{k + 1}", factor, unit)
            self.initial_value_map[pyname] = (f"{variable}_{k + 1}", 1.0 / factor)

    def __repr__(self):
        parts = ", ".join(f"{n}={type(p).__name__}" for n, p in
                          self.post_synaptic_receptors.items())
        return f"PointNeuron({type(self.neuron).__name__}, {parts})"

    def _choose_model(self):
        kinds = {psr.kind for psr in self.post_synaptic_receptors.values()}
        if isinstance(self.neuron, LIF) and kinds == {"current"}:
            return iaf_psc_exp_multisynapse
        if isinstance(self.neuron, AdExp) and kinds == {"alpha"}:
            return aeif_cond_alpha_multisynapse
        if isinstance(self.neuron, AdExp) and "current" not in kinds:
            return aeif_cond_beta_multisynapse
        raise errors.NoModelAvailableError(
            f"PointNeuron: no model for {type(self.neuron).__name__} with "
            f"{sorted(type(p).__name__ for p in self.post_synaptic_receptors.values())}: LIF "
            "takes CurrExpPostSynapticResponse, AdExp takes the conductance-based responses "
            "(CondExp, CondAlpha, CondBeta).")

    @property
    def nest_name(self):
        """The NEST model this composition mirrors (what pyNN.nest would create)."""
        return {"on_grid": self.model.nest_name, "off_grid": self.model.nest_name}

    # ----------------------------------------------------------- names and translations
    def get_schema(self):
        return dict(self._schema)

    def get_parameter_names(self):
        return list(self._schema)

    def has_parameter(self, name):
        return name in self._schema

    # use the flat translation table (cells.PointNeuron's versions ask the components)
    simple_parameters = StandardModelType.simple_parameters
    scaled_parameters = StandardModelType.scaled_parameters
    computed_parameters = StandardModelType.computed_parameters
    computed_parameters_include = StandardModelType.computed_parameters_include
    get_native_names = StandardModelType.get_native_names
    translate = StandardModelType.translate
    reverse_translate = StandardModelType.reverse_translate

    @property
    def native_parameters(self):
        return self.translate(self.parameter_space)

    @property
    def receptor_types(self):
        return sorted(self.post_synaptic_receptors)

    recordable = cells.PointNeuron.recordable

    @property
    def units(self):
        return {**cells.PointNeuron.units.fget(self),
                **{n: unit for n, (_, _, unit) in self.recordable_map.items()}}

    # ----------------------------------------------------------- the model's arguments
    def model_parameters(self, native: dict, n_cells: int) -> dict:
        """The model's keyword arguments: the neuron's values, one per cell, and the
        receptors' as (n_cells, n_receptors) arrays in port order."""
        neuron_names = [D["translated_name"] for D in self.neuron.translations.values()]
        try:
            kwargs = {name: np.broadcast_to(np.asarray(native[name], float), (n_cells,)).copy()
                      for name in neuron_names}
            rows = [_model_rows(self.post_synaptic_receptors[name], native, name, n_cells)
                    for name in self.receptor_types]
        except (TypeError, ValueError):
            raise errors.InvalidParameterValueError(
                "PointNeuron: every parameter must be a number or one number per cell.") \
                from None
        self._check_receptors(native, kwargs, n_cells)
        for key in rows[0]:
            if key in self.model.defaults:
                kwargs[key] = np.stack([r[key] for r in rows], axis=1)
        try:
            self.model.validate_parameters(kwargs)
        except ValueError as exc:
            raise errors.InvalidParameterValueError(f"PointNeuron: {exc}") from None
        return kwargs

    def _check_receptors(self, native, neuron, n):
        """The receptors' parameters, checked with the user's names."""
        for name in self.receptor_types:
            psr = self.post_synaptic_receptors[name]
            value = {p: np.broadcast_to(np.asarray(native[f"{name}.{D['translated_name']}"],
                                                   float), (n,))
                     for p, D in psr.translations.items()}
            for p, v in value.items():
                bad = ~np.isfinite(v) | ((~(v > 0)) if p.startswith("tau") else False)
                if np.any(bad):
                    raise errors.InvalidParameterValueError(
                        f"PointNeuron: {name}.{p} must be "
                        f"{'a positive time constant (ms)' if p.startswith('tau') else 'finite'}"
                        f", got {np.unique(v[bad]).tolist()}.")
            if psr.kind == "beta" and np.any(value["tau_rise"] > value["tau_decay"]):
                raise errors.InvalidParameterValueError(
                    f"PointNeuron: {name}.tau_rise must not exceed {name}.tau_decay "
                    "(NEST: Synaptic rise time must be smaller than or equal to decay time).")
            if psr.kind == "current" and np.any(value["tau_syn"] == neuron["tau_m"]):
                raise errors.InvalidParameterValueError(
                    f"PointNeuron: {name}.tau_syn must differ from tau_m (NEST's "
                    "iaf_psc_exp_multisynapse: Membrane and synapse time constant(s) must "
                    "differ).")
