r"""NEST's ``aeif_cond_alpha`` and ``aeif_cond_exp``: adaptive exponential integrate-and-fire
neurons (Brette & Gerstner 2005) with alpha- or exponential-shaped conductances.

.. math::

    C_m \frac{dV}{dt} = -g_L (V - E_L) + g_L Δ_T e^{(V - V_{th})/Δ_T}
                        - g_{ex} (V - E_{ex}) - g_{in} (V - E_{in}) - w + I_e + I

    τ_w \frac{dw}{dt} = a (V - E_L) - w

    \text{alpha:}\quad \frac{d\,dg_k}{dt} = -\frac{dg_k}{τ_k},\quad
    \frac{dg_k}{dt} = dg_k - \frac{g_k}{τ_k}
    \qquad \text{exp:}\quad \frac{dg_k}{dt} = -\frac{g_k}{τ_k}

In the right-hand side ``V`` is bounded above by ``V_peak`` (``min(V, V_peak)``); while
refractory ``V`` is read as ``V_reset`` and ``dV/dt = 0``. With ``Δ_T = 0`` the exponential
term is dropped and the spike threshold is ``V_th`` (an IAF neuron with adaptation).

The state is integrated with GSL's RKF45 and the *yp* step-size control NEST uses for these
models (``gsl_odeiv_control_yp_new(tol, tol)``: per component the admissible error is
``tol + tol·|h·y'|`` with ``y'`` evaluated at the end of the trial), the sub-step size carried
from step to step (initially ``min(0.01 ms, dt)``). Unlike the other GSL models, NEST checks
for spikes after *every accepted sub-step*, inside the integration loop:
:func:`~pynn_brainpy.engine.rkf45.advance_with_events` reproduces that loop (the generic
:func:`~pynn_brainpy.engine.rkf45.advance` only stops at the end of the step).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``):

1. Integrate over ``h`` with ``I`` held constant. After every accepted RKF45 sub-step:

   * if refractory (``r > 0``): ``V ← V_reset``;
   * else if ``V ≥ V_peak`` (``V_th`` when ``Δ_T = 0``): a spike; ``V ← V_reset``,
     ``w ← w + b``, ``r ← n_ref + 1`` (0 when ``n_ref = 0``), where ``n_ref`` is ``t_ref`` in
     steps (NEST's tic rounding). From that sub-step on the right-hand side is the refractory
     one. The spike time is ``(m+1)·h``.

2. ``r ← r − 1`` if ``r > 0``.
3. Spikes delivered in this step: alpha ``dg_k ← dg_k + W_k·e/τ_k``; exp ``g_k ← g_k + W_k``.
4. ``I ← x`` (the current given to this step drives the next one).

NEST checks for "numerical instability" (``V < −1000 mV`` or ``|w| > 10⁶ pA``) after each
sub-step and aborts; here such a neuron gets ``V = NaN`` and :meth:`check_finite` raises.

Departures from NEST:

* NEST sorts incoming spikes by the sign of the weight (positive: excitatory, negative:
  inhibitory, as ``|w|``); here the port is the input label (``receptor_0``: excitatory,
  ``receptor_1``: inhibitory) and the weight is used as given.
* With ``t_ref = 0`` NEST can emit several spikes in one step (it sends one event each); the
  model returns one spike per step (the count is in ``spike_count``).
* A neuron needing more than ``max_trials`` (default 100 000) RKF45 trials in one step is
  stopped and marked with ``V = NaN`` (GSL would shrink its step towards one ulp).
* float32 (``precision=32``): the error tolerance is raised to at least ``1e-4`` (a 1e-6
  tolerance is below float32 resolution for ``V`` ≈ −70 mV and the step would collapse).

This module also holds :class:`ScalarModel`, the plumbing shared by the point-neuron models
with one scalar per parameter (``izhikevich``, ``hh_cond_exp_traub``, ``gif_cond_exp``).
"""

import math
from typing import Dict, Optional

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine import rkf45
from ._base import InputDynamics, device_constants, dt_ms, magnitude, refractory_counts

__all__ = ["aeif_cond_alpha", "aeif_cond_exp", "ScalarModel"]


# ====================================================================== shared plumbing
class ScalarModel(InputDynamics):
    """A point neuron with scalar parameters (one float per neuron), two input ports
    (``receptor_0``, ``receptor_1``) and an external current ``I_stim``.

    Subclasses set ``nest_name``, ``defaults`` (NEST's), ``param_units``, ``ports``, implement
    ``check(p)`` (NEST's parameter checks on per-neuron float64 arrays; raise ``ValueError``),
    ``constants(p, dt)``, ``_make_state(consts_host, shape, dtype)`` (a dict of state arrays)
    and ``update``. ``state_units`` maps NEST state names to units, ``recordables`` NEST
    recordable names to state keys.
    """

    nest_name = ""
    defaults: Dict[str, float] = {}
    param_units: Dict[str, object] = {}
    ports = ("receptor_0", "receptor_1")
    recordables: Dict[str, str] = {}
    settable = ()
    vector_params = ()

    def __init__(self, in_size, name: Optional[str] = None, **params):
        super().__init__(in_size, name=name)
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(f"{self.nest_name} has no parameters {sorted(unknown)}; it has "
                            f"{sorted(self.defaults)}.")
        self.params = self._per_neuron({**self.defaults, **params})
        self.validate_parameters(self.params)

    # ---------------------------------------------------------------- parameters
    @classmethod
    def validate_parameters(cls, kwargs: dict) -> None:
        """NEST's checks of a (possibly partial) dict of per-neuron values in model units;
        missing parameters take NEST's defaults. Raises ``ValueError`` naming the parameter."""
        unknown = set(kwargs) - set(cls.defaults)
        if unknown:
            raise ValueError(f"{cls.nest_name}: unknown parameters {sorted(unknown)}.")
        sizes = [np.shape(v)[0] for k, v in kwargs.items()
                 if np.ndim(v) >= 1 and k not in cls.vector_params]
        n = max(sizes, default=1)
        p = {}
        for name, default in cls.defaults.items():
            value = kwargs.get(name, default)
            if name in cls.vector_params:
                v = np.asarray(value, float)
                p[name] = np.broadcast_to(v.reshape((1,) * (2 - v.ndim) + v.shape[-1:])
                                          if v.ndim < 2 else v, (n, v.shape[-1] if v.ndim
                                                                 else 0)).copy()
            else:
                p[name] = np.broadcast_to(np.asarray(value, float), (n,)).copy()
            bad = ~np.isfinite(p[name])
            if bad.any() and not (name == "V_min"):
                raise ValueError(f"{cls.nest_name}: {name}: must be finite "
                                 f"(got {p[name][bad].tolist()!r}).")
        cls.check(p)

    @staticmethod
    def _fail(model: str, names: str, sentence: str, values):
        raise ValueError(f"{model}: {names}: {sentence} (got "
                         f"{np.unique(np.asarray(values)).tolist()!r})")

    @classmethod
    def check(cls, p: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _per_neuron(self, given: dict) -> dict:
        n = int(np.prod(self.varshape))
        out = {}
        for name in self.defaults:
            v = magnitude(given[name], self.param_units.get(name), name)
            if name in self.vector_params:
                v = np.asarray(v, float)
                if v.ndim <= 1:
                    v = v.reshape(1, -1)
                try:
                    out[name] = np.broadcast_to(v, (n, v.shape[-1])).copy()
                except ValueError:
                    raise ValueError(f"{self.nest_name}: {name}: expected a vector or one "
                                     f"vector per neuron, got shape {v.shape}.") from None
                continue
            try:
                out[name] = np.broadcast_to(v, self.varshape).reshape(n).astype(float).copy()
            except ValueError:
                raise ValueError(f"{self.nest_name}: {name}: expected a scalar or an array of "
                                 f"shape {self.varshape}, got shape {np.shape(v)}.") from None
        return out

    def set_parameters(self, **values):
        """Change parameters (same keywords and units as the constructor) between runs; the
        state is kept and the step constants are recomputed."""
        unknown = set(values) - set(self.params)
        if unknown:
            raise TypeError(f"{self.nest_name} has no parameters {sorted(unknown)}.")
        params = self._per_neuron({**self.params, **values})
        for name in self.vector_params:
            if params[name].shape != self.params[name].shape:
                raise ValueError(f"{self.nest_name}: {name}: the number of values cannot "
                                 "change after the model is built (it fixes the state's shape).")
        self.validate_parameters(params)
        self.params = params
        if hasattr(self, "consts"):
            self.consts.value = device_constants(self.constants(self.params, self.dt),
                                        self.consts_dtype)

    def signature(self):
        """What a compiled update depends on besides values: the class and constant shapes."""
        shapes = jax.tree.map(lambda x: (x.shape, str(x.dtype)), self.consts.value)
        return (type(self).__name__, self.static_signature(), tuple(sorted(shapes.items())))

    def static_signature(self):
        return ()

    def constants(self, p: dict, dt: float) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---------------------------------------------------------------- state
    def init_state(self, batch_size=None, **kwargs):
        if batch_size is not None:
            raise NotImplementedError(f"{self.nest_name} does not support batching.")
        self.dt = dt_ms()
        self.consts_dtype = brainstate.environ.dftype()
        consts = self.constants(self.params, self.dt)
        self.consts = brainstate.LongTermState(device_constants(consts, self.consts_dtype))
        self.state = {k: brainstate.HiddenState(v) for k, v in
                      self._make_state(consts, self.varshape, self.consts_dtype).items()}
        self.I_stim = brainstate.HiddenState(jnp.zeros(self.varshape, self.consts_dtype))
        self.step_count = brainstate.ShortTermState(jnp.zeros((), jnp.int32))

    def reset_state(self, batch_size=None, **kwargs):
        self.init_state(batch_size, **kwargs)

    def _make_state(self, consts, shape, dtype) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin_update(self):
        """Checks shared by every update; returns (n, consts, dtype)."""
        if abs(dt_ms() - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"{self.nest_name} was initialised with dt = {self.dt} ms but is "
                             f"updated with dt = {dt_ms()} ms; call init_state() under the new "
                             "dt.")
        stray = self.unused_delta_labels(self.ports)
        if stray:
            raise ValueError(f"{self.nest_name} has ports {list(self.ports)}; delta inputs were "
                             f"given to unknown labels {stray}.")
        return int(np.prod(self.varshape)), self.consts.value, self.consts_dtype

    def _deltas(self, n: int, dtype):
        """Per port, the sum of this step's delta inputs, shape (n,); None without inputs."""
        if not self._delta_inputs:
            return None
        return [jnp.broadcast_to(jnp.asarray(self.delta_inputs_for(
            lab, self.ports[0], u.nS), dtype).reshape(-1), (n,)) for lab in self.ports]

    def _next_current(self, x, n, dtype):
        x_now = magnitude(x, u.pA, "x") if isinstance(x, u.Quantity) else x
        return jnp.broadcast_to(jnp.asarray(x_now + self.current_inputs(u.pA), dtype)
                                .reshape(-1), (n,))

    def _store(self, values: dict):
        for key, v in values.items():
            self.state[key].value = jnp.asarray(v).reshape(self.state[key].value.shape)

    def _emit(self, spike, n, dtype):
        self.step_count.value = self.step_count.value + 1
        return spike.reshape(self.varshape).astype(dtype)

    # ---------------------------------------------------------------- readout
    def recordable_names(self):
        return list(self.recordables)

    def recordable(self, name: str):
        """A NEST recordable by NEST's name (see ``recordable_names()``); ``I`` is the
        buffered external current (pA)."""
        if name == "I":
            return self.I_stim.value
        key = self.recordables.get(name)
        if key is None:
            raise KeyError(f"{self.nest_name} has no recordable {name!r}; it has "
                           f"{self.recordable_names()}.")
        return self.state[key].value

    def set_state_value(self, name: str, value):
        """Set a state by its NEST name (``settable``), one value per neuron or a scalar."""
        if name not in self.settable:
            raise KeyError(f"{self.nest_name} can set the states {list(self.settable)}, not "
                           f"{name!r}.")
        st = self.state[self.recordables[name]]
        v = np.asarray(value, float)
        v = np.broadcast_to(v.reshape(-1) if v.ndim else v, (int(np.prod(self.varshape)),))
        st.value = jnp.asarray(v, st.value.dtype).reshape(st.value.shape)

    def check_finite(self):
        """Raise ``FloatingPointError`` if any membrane potential is NaN or infinite."""
        V = np.asarray(self.state["V"].value)
        bad = ~np.isfinite(V)
        if bad.any():
            idx = np.flatnonzero(bad)
            raise FloatingPointError(
                f"{self.nest_name} {self.name}: the state of {idx.size} neuron(s) (first "
                f"indices {idx[:5].tolist()}) became non-finite or left NEST's bounds "
                "(numerical instability: V < -1000 mV or |w| > 1e6 pA, or a diverging "
                "integration; very large weights or currents?).")


# ====================================================================== aeif_cond_*
_AEIF_DEFAULTS = {
    "V_peak": 0.0, "V_reset": -60.0, "t_ref": 0.0, "g_L": 30.0, "C_m": 281.0, "E_ex": 0.0,
    "E_in": -85.0, "E_L": -70.6, "Delta_T": 2.0, "tau_w": 144.0, "a": 4.0, "b": 80.5,
    "V_th": -50.4, "tau_syn_ex": 0.2, "tau_syn_in": 2.0, "I_e": 0.0, "gsl_error_tol": 1e-6,
}
_AEIF_UNITS = {
    "V_peak": u.mV, "V_reset": u.mV, "t_ref": u.ms, "g_L": u.nS, "C_m": u.pF, "E_ex": u.mV,
    "E_in": u.mV, "E_L": u.mV, "Delta_T": u.mV, "tau_w": u.ms, "a": u.nS, "b": u.pA,
    "V_th": u.mV, "tau_syn_ex": u.ms, "tau_syn_in": u.ms, "I_e": u.pA, "gsl_error_tol": None,
}
_MAX_EXP_ARG = math.log(np.finfo(np.float64).max / 1e20)


class _AEIFCond(ScalarModel):
    r"""Adaptive exponential integrate-and-fire with conductance synapses (see the module
    docstring for the equations and the per-step order).

    Parameters (NEST's names, units and defaults; scalars or one value per neuron):
    ``C_m`` pF 281, ``g_L`` nS 30, ``E_L`` mV −70.6, ``V_th`` mV −50.4, ``Delta_T`` mV 2,
    ``V_peak`` mV 0, ``V_reset`` mV −60, ``t_ref`` ms 0, ``a`` nS 4, ``b`` pA 80.5,
    ``tau_w`` ms 144, ``E_ex`` mV 0, ``E_in`` mV −85, ``tau_syn_ex`` ms 0.2,
    ``tau_syn_in`` ms 2, ``I_e`` pA 0, ``gsl_error_tol`` 1e-6.

    Initial state: ``V_m = E_L``, ``w = 0``, conductances 0 (set with ``set_state_value``).
    Inputs: ``add_delta_input(key, w_nS, label='receptor_0'|'receptor_1')`` (excitatory,
    inhibitory), acting at the end of the step; ``update(x)`` with ``x`` in pA (next step).
    Recordables: ``V_m``, ``g_ex``, ``g_in``, ``w`` (and ``dg_ex``, ``dg_in`` for alpha).
    """

    defaults = _AEIF_DEFAULTS
    param_units = _AEIF_UNITS
    alpha = True

    @classmethod
    def check(cls, p):
        m = cls.nest_name
        bad = p["V_reset"] >= p["V_peak"]
        if bad.any():
            cls._fail(m, "V_reset", "Ensure that: V_reset < V_peak .", p["V_reset"][bad])
        bad = p["Delta_T"] < 0
        if bad.any():
            cls._fail(m, "Delta_T", "Delta_T must be positive.", p["Delta_T"][bad])
        pos = p["Delta_T"] > 0
        ratio = np.where(pos, (p["V_peak"] - p["V_th"]) / np.where(pos, p["Delta_T"], 1.0), 0)
        bad = pos & (ratio >= _MAX_EXP_ARG)
        if bad.any():
            cls._fail(m, "V_peak, V_th, Delta_T",
                      "The current combination of V_peak, V_th and Delta_T will lead to "
                      "numerical overflow at spike time; try for instance to increase Delta_T "
                      "or to reduce V_peak to avoid this problem.", p["Delta_T"][bad])
        bad = p["V_peak"] < p["V_th"]
        if bad.any():
            cls._fail(m, "V_peak", "V_peak >= V_th required.", p["V_peak"][bad])
        bad = ~(p["C_m"] > 0)
        if bad.any():
            cls._fail(m, "C_m", "Capacitance must be strictly positive.", p["C_m"][bad])
        bad = p["t_ref"] < 0
        if bad.any():
            cls._fail(m, "t_ref", "Refractory time cannot be negative.", p["t_ref"][bad])
        for name in ("tau_syn_ex", "tau_syn_in", "tau_w"):
            bad = ~(p[name] > 0)
            if bad.any():
                cls._fail(m, name, "All time constants must be strictly positive.",
                          p[name][bad])
        bad = ~(p["gsl_error_tol"] > 0)
        if bad.any():
            cls._fail(m, "gsl_error_tol", "The gsl_error_tol must be strictly positive.",
                      p["gsl_error_tol"][bad])

    def constants(self, p, dt):
        c = {k: p[k] for k in ("V_peak", "V_reset", "g_L", "C_m", "E_ex", "E_in", "E_L",
                               "Delta_T", "tau_w", "a", "b", "V_th", "tau_syn_ex",
                               "tau_syn_in", "I_e")}
        c["V_spike"] = np.where(p["Delta_T"] > 0, p["V_peak"], p["V_th"])
        c["g0_ex"] = 1.0 * np.e / p["tau_syn_ex"]
        c["g0_in"] = 1.0 * np.e / p["tau_syn_in"]
        c["ref_count"] = refractory_counts(p["t_ref"], dt)
        tol = p["gsl_error_tol"]
        if brainstate.environ.dftype() == jnp.float32:
            tol = np.maximum(tol, 1e-4)
        c["tol"] = tol
        return c

    def static_signature(self):
        return (bool(np.any(self.params["Delta_T"] == 0)),)

    def _make_state(self, c, shape, dtype):
        z = jnp.zeros(shape, dtype)
        st = {"V": jnp.asarray(np.reshape(c["E_L"], shape), dtype), "g_ex": z, "g_in": z,
              "w": z, "r": jnp.zeros(shape, jnp.int32),
              "H": jnp.full(shape, min(0.01, self.dt), dtype),
              "spike_count": jnp.zeros(shape, jnp.int32)}
        if self.alpha:
            st.update(dg_ex=z, dg_in=z)
        return st

    @property
    def recordables(self):
        rec = {"V_m": "V", "g_ex": "g_ex", "g_in": "g_in", "w": "w"}
        if self.alpha:
            rec.update(dg_ex="dg_ex", dg_in="dg_in")
        return rec

    @property
    def settable(self):
        return tuple(self.recordables)

    def _rhs(self, c, I_stim, refractory, has_zero_delta):
        alpha = self.alpha

        def rhs(y):
            if alpha:
                V_, dg_ex, g_ex, dg_in, g_in, w = y
            else:
                V_, g_ex, g_in, w = y
            V = jnp.where(refractory, c["V_reset"], jnp.minimum(V_, c["V_peak"]))
            I_syn_exc = g_ex * (V - c["E_ex"])
            I_syn_inh = g_in * (V - c["E_in"])
            I_spike = c["g_L"] * c["Delta_T"] * jnp.exp((V - c["V_th"]) / c["Delta_T"])
            if has_zero_delta:
                I_spike = jnp.where(c["Delta_T"] == 0, 0.0, I_spike)
            dV = ((((((-c["g_L"]) * (V - c["E_L"]) + I_spike) - I_syn_exc) - I_syn_inh) - w)
                  + c["I_e"] + I_stim) / c["C_m"]
            dV = jnp.where(refractory, jnp.zeros_like(dV), dV)
            dw = (c["a"] * (V - c["E_L"]) - w) / c["tau_w"]
            if alpha:
                return (dV, -dg_ex / c["tau_syn_ex"], dg_ex - g_ex / c["tau_syn_ex"],
                        -dg_in / c["tau_syn_in"], dg_in - g_in / c["tau_syn_in"], dw)
            return (dV, -g_ex / c["tau_syn_ex"], -g_in / c["tau_syn_in"], dw)
        return rhs

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        n, c, dtype = self._begin_update()
        row = lambda k: self.state[k].value.reshape(n)
        names = (("V", "dg_ex", "g_ex", "dg_in", "g_in", "w") if self.alpha
                 else ("V", "g_ex", "g_in", "w"))
        y0 = tuple(row(k) for k in names)
        I_stim = self.I_stim.value.reshape(n)
        has_zero = self.static_signature()[0]
        ref_count = c["ref_count"]

        def rhs_of(aux):
            r, _ = aux
            return self._rhs(c, I_stim, r > 0, has_zero)

        def on_substep(y, aux, take):
            r, count = aux
            V, w = y[0], y[-1]
            refr = take & (r > 0)
            spike = take & ~(r > 0) & (V >= c["V_spike"])
            unstable = take & ((V < -1e3) | (w < -1e6) | (w > 1e6))
            V = jnp.where(refr | spike, c["V_reset"], V)
            V = jnp.where(unstable, jnp.nan, V)
            w = jnp.where(spike, w + c["b"], w)
            r = jnp.where(spike, jnp.where(ref_count > 0, ref_count + 1, 0), r)
            return (V,) + tuple(y[1:-1]) + (w,), (r, count + spike.astype(jnp.int32))

        aux0 = (row("r"), jnp.zeros((n,), jnp.int32))
        y, H, (r, count), stalled = rkf45.advance_with_events(
            rhs_of, rkf45.ratio_yp(c["tol"], c["tol"]), on_substep, y0, row("H"), aux0, self.dt)
        y = dict(zip(names, y))
        y["V"] = jnp.where(stalled, jnp.nan, y["V"])
        # 2. refractory countdown
        r = jnp.where(r > 0, r - 1, r)
        # 3. spikes delivered in this step
        W = self._deltas(n, dtype)
        if W is not None and self.alpha:
            y["dg_ex"] = y["dg_ex"] + W[0] * c["g0_ex"]
            y["dg_in"] = y["dg_in"] + W[1] * c["g0_in"]
        elif W is not None:
            y["g_ex"] = y["g_ex"] + W[0]
            y["g_in"] = y["g_in"] + W[1]
        # 4. buffer the current for the next step
        self.I_stim.value = self._next_current(x, n, dtype).reshape(self.varshape)
        self._store({**y, "H": H, "r": r, "spike_count": count})
        return self._emit(count > 0, n, dtype)


class aeif_cond_alpha(_AEIFCond):
    __doc__ = ("AdEx with alpha-shaped conductances; mirrors NEST's ``aeif_cond_alpha``.\n\n"
               "A spike of weight ``w`` (nS) adds ``w·e/τ`` to ``dg``, so ``g`` peaks at ``w``"
               " ``τ`` after it.\n\n" + _AEIFCond.__doc__)
    nest_name = "aeif_cond_alpha"
    alpha = True


class aeif_cond_exp(_AEIFCond):
    __doc__ = ("AdEx with exponentially decaying conductances; mirrors NEST's "
               "``aeif_cond_exp``.\n\nA spike of weight ``w`` (nS) adds ``w`` to ``g``.\n\n"
               + _AEIFCond.__doc__)
    nest_name = "aeif_cond_exp"
    alpha = False
