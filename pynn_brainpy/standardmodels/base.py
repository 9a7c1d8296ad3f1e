"""The contract between a PyNN cell type and the brainstate model that simulates it.

A population whose cell type has ``model_parameters`` is simulated by ``celltype.model``:

* ``celltype.model_parameters(native, n_cells) -> dict``: the model's keyword arguments from
  the population's stored translated values (one per cell), validated (PyNN error types);
* ``celltype.model(n_cells, **kwargs)``, a ``brainstate.nn.Dynamics`` with ``init_state()``,
  ``update(x) -> spikes`` (``x``: external current in the model's unit, acting on the next
  step), ``add_delta_input(key, w, label='receptor_k')``, a state ``I_stim``,
  ``recordable(name)``, ``set_parameters(**kwargs)``, ``set_state_value(name, values)``,
  ``signature()`` (what a compiled update depends on besides values) and
  ``check_finite()``;
* ``receptor_port(name) -> int`` (the input label is ``f"receptor_{port}"``),
  ``weight_scale`` (PyNN weight unit -> model unit), ``current_scale`` (nA -> model unit),
  ``recordable_map`` {PyNN name: (model recordable, factor to PyNN unit, PyNN unit)} and
  ``initial_value_map`` {PyNN name: (model state, factor to model unit)}.

:class:`ModelCellType` implements the PyNN side of that contract for models with scalar
parameters; GLIF_cond (vector parameters) has its own in :mod:`.cells`.
"""

import numpy as np
from pyNN import errors
from pyNN.standardmodels import StandardCellType

__all__ = ["ModelCellType"]


class ModelCellType(StandardCellType):
    """A standard cell type simulated by a model of :mod:`pynn_brainpy.models`.

    Subclasses set ``model``, ``translations`` (to the model's keyword names and units),
    ``recordable_map``, ``initial_value_map``, ``receptor_ports``, ``weight_scale`` and
    ``current_scale``.
    """

    model = None
    weight_scale = 1.0
    current_scale = 1.0
    receptor_ports = {"excitatory": 0, "inhibitory": 1}
    recordable_map = {}
    initial_value_map = {}

    @property
    def receptor_types(self):
        return list(self.receptor_ports)

    def receptor_port(self, name: str) -> int:
        try:
            return self.receptor_ports[name]
        except KeyError:
            raise errors.ConnectionError(
                f"{self.__class__.__name__} has no receptor type {name!r}; valid types: "
                f"{self.receptor_types}.") from None

    @property
    def recordable(self):
        return ["spikes"] + list(self.recordable_map)

    @property
    def units(self):
        return {name: unit for name, (_, _, unit) in self.recordable_map.items()}

    def model_parameters(self, native: dict, n_cells: int) -> dict:
        """Float arrays of shape (n_cells,) for the model, checked by the model's own
        validation (its ``ValueError`` becomes ``InvalidParameterValueError``)."""
        kwargs = {}
        for name, value in native.items():
            try:
                kwargs[name] = np.broadcast_to(np.asarray(value, float), (n_cells,)).copy()
            except (TypeError, ValueError):
                raise errors.InvalidParameterValueError(
                    f"{self.__class__.__name__}: {self._user_name(name)} must be a number "
                    f"or one number per cell, got {value!r}.") from None
        validate = getattr(self.model, "validate_parameters", None)
        if validate is not None:
            try:
                validate(kwargs)
            except ValueError as exc:
                raise errors.InvalidParameterValueError(
                    f"{self.__class__.__name__}: {exc}") from None
        return kwargs

    def _user_name(self, native_name: str) -> str:
        for name, d in self.translations.items():
            if d["translated_name"] == native_name:
                return name
        return native_name
