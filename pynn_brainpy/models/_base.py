"""Shared plumbing for the point-neuron models: units in, labelled inputs, host-side math.

Nothing here knows a particular model. ``InputDynamics`` gives a ``brainstate.nn.Dynamics`` the
input protocol of brainpy.state neurons (``add_delta_input`` / ``add_current_input``), which
brainstate 0.5 no longer ships on ``Dynamics`` itself.
"""

import math
from typing import Callable, Dict, Optional

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine.timing import ms_to_steps_ceil

__all__ = ["magnitude", "host_exp", "host_expm1", "refractory_counts", "device_constants",
           "on_device", "InputDynamics", "dt_ms"]


def on_device(value, dtype) -> jax.Array:
    """``value`` as a device array of ``dtype``, made on the host and put on the device.
    ``jnp.zeros``, ``jnp.full``, ``jnp.asarray`` (even of a NumPy array) or a conversion on
    the device each compile a small XLA computation per shape and type (tens of ms each):
    together a noticeable part of a network's first run."""
    return jax.device_put(np.asarray(value, dtype))


def magnitude(value, unit=None, name: str = "value") -> np.ndarray:
    """Plain float64 array of ``value`` in ``unit``.

    ``value`` may be a saiunit Quantity (converted) or a plain number/array (taken to be in
    ``unit`` already). ``unit`` may be a saiunit Unit, a Quantity such as ``1 / u.ms``, or None
    for dimensionless values.
    """
    if isinstance(value, u.Quantity):
        if unit is None:
            raise ValueError(f"{name} must be dimensionless, got {value}.")
        if isinstance(unit, u.Quantity):
            unit = u.get_unit(unit)
        try:
            return np.asarray(value.to_decimal(unit), dtype=np.float64)
        except Exception as exc:  # saiunit raises its own dimension errors
            raise ValueError(f"{name} must be given in units of {unit}, got {value}.") from exc
    return np.asarray(value, dtype=np.float64)


def host_exp(x: np.ndarray) -> np.ndarray:
    """``exp`` evaluated with the C library (``math.exp``), as NEST's ``std::exp`` does.

    NumPy's vectorised exp may differ by one ulp; precomputed decay factors then drift from
    NEST's at the last bit. Only the distinct values are evaluated, so a homogeneous
    population costs one call.
    """
    x = np.asarray(x, dtype=np.float64)
    uniq, inverse = np.unique(x, return_inverse=True)
    return np.array([math.exp(v) for v in uniq], dtype=np.float64)[inverse].reshape(x.shape)


def host_expm1(x: np.ndarray) -> np.ndarray:
    """``expm1`` from the C library (as NEST's ``numerics::expm1``), once per distinct value."""
    x = np.asarray(x, np.float64)
    uniq, inverse = np.unique(x, return_inverse=True)
    return np.array([math.expm1(v) for v in uniq], np.float64)[inverse].reshape(x.shape)


def refractory_counts(t_ref: np.ndarray, dt: float) -> np.ndarray:
    """NEST's ``Time(Time::ms(t_ref)).get_steps()`` per neuron: rounded to tics, then up to
    whole steps; evaluated once per distinct value."""
    t_ref = np.asarray(t_ref, float)
    uniq, inverse = np.unique(t_ref, return_inverse=True)
    counts = np.array([ms_to_steps_ceil(float(t), dt) for t in uniq], np.int32)
    return counts[inverse].reshape(t_ref.shape)


def device_constants(consts: dict, dtype) -> dict:
    """Host constants as jit arguments (values, not compiled-in constants): 0-d when every
    neuron has the same value, (N,) otherwise; integer arrays stay int32; per-neuron vectors
    (N, k) become component-major (k, N) so that ``c[j]`` is a row (or (k,) when
    homogeneous)."""
    out = {}
    for key, v in consts.items():
        v = np.asarray(v)
        kind = jnp.int32 if v.dtype.kind in "iu" else dtype
        same = bool(np.all(v == v[0:1])) if v.size else True
        if v.ndim == 1:
            out[key] = on_device(v[0] if same and v.size else v, kind)
        else:
            out[key] = on_device(v[0] if same and v.shape[0] else v.T, kind)
    return out


def dt_ms() -> float:
    """The time step of the current brainstate environment, in ms."""
    dt = brainstate.environ.get_dt()
    return float(magnitude(dt, u.ms, "dt"))


class InputDynamics(brainstate.nn.Dynamics):
    """A ``Dynamics`` that collects labelled delta inputs and current inputs for one step.

    Arrays given with ``add_*_input`` are used in the next ``update`` only; callables are
    evaluated at every update until removed with ``remove_input``.
    """

    def __init__(self, in_size, name: Optional[str] = None):
        super().__init__(in_size, name=name)
        self._delta_inputs: Dict[str, tuple] = {}
        self._current_inputs: Dict[str, tuple] = {}

    def add_delta_input(self, key: str, value, label: Optional[str] = None):
        """Add an instantaneous input (for conductance models: a weight in nS) to ``label``."""
        self._delta_inputs[key] = (value, label)

    def add_current_input(self, key: str, value, label: Optional[str] = None):
        """Add an external current (pA) for the next step (or every step, if callable)."""
        self._current_inputs[key] = (value, label)

    def remove_input(self, key: str):
        self._delta_inputs.pop(key, None)
        self._current_inputs.pop(key, None)

    @staticmethod
    def _collect(inputs: Dict[str, tuple], unit, accept: Callable[[Optional[str]], bool]):
        """Sum the inputs whose label is accepted; drop the one-shot ones that were used."""
        total = 0.0
        for key in list(inputs):
            value, label = inputs[key]
            if not accept(label):
                continue
            if callable(value):
                value = value()
            else:
                del inputs[key]
            if isinstance(value, u.Quantity):
                value = value.to_decimal(unit)
            total = total + jnp.asarray(value)
        return total

    def delta_inputs_for(self, label: str, default_label: str, unit):
        """Sum of delta inputs labelled ``label``; unlabelled ones count as ``default_label``."""
        return self._collect(self._delta_inputs, unit,
                             lambda lab: (lab if lab is not None else default_label) == label)

    def unused_delta_labels(self, known):
        return sorted({lab for _, lab in self._delta_inputs.values()
                       if lab is not None and lab not in known})

    def current_inputs(self, unit):
        return self._collect(self._current_inputs, unit, lambda lab: True)

    def set_state_of(self, name: str, value, cells):
        """``set_state_value(name, value)`` for the neurons ``cells`` (a boolean mask) only:
        every other neuron keeps its internal state bit for bit (a value read with
        ``recordable`` and set again need not: ``V_m`` is ``V_rel + E_L`` in some models).
        ``value`` must be valid for every neuron (the others' present values will do)."""
        states = list(self.states().values())
        before = [state.value for state in states]
        self.set_state_value(name, value)
        cells = np.asarray(cells, bool)
        for state, old in zip(states, before):
            if state.value is not old:
                state.value = jnp.where(_along_neurons(cells, np.shape(old)), state.value, old)


def _along_neurons(cells, shape):
    """The mask ``cells`` shaped to select neurons in arrays of ``shape``: the neurons are
    the last axis (``(n,)``, ``(rows, n)``) or else the first (``(n, k)``)."""
    n = cells.size
    if shape[-1] == n:
        return cells
    if shape[0] == n:
        return cells.reshape((n,) + (1,) * (len(shape) - 1))
    raise ValueError(f"a state of shape {shape} has no axis of the {n} neurons")
