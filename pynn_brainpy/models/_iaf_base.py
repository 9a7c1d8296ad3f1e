"""Plumbing shared by the leaky integrate-and-fire family (NEST's ``iaf_psc_*``, ``iaf_cond_*``).

Each model of the family has scalar parameters only (one value per neuron), two synaptic
ports (``receptor_0`` excitatory, ``receptor_1`` inhibitory), a refractory step counter and
NEST's "current one step later" buffer ``I_stim``. This module does the parts that do not
depend on the equations: parameters in, validated (NEST's sentences), turned into per-neuron
step constants (float64 on the host, 0-d on the device when the population is homogeneous),
the input protocol, state setting and read-out. A model supplies ``PARAMETERS``,
``_check(p)``, ``constants(dt)``, ``_make_states(...)`` and ``update``; the conductance-based
models whose state is ``V`` and one linear conductance per port get ``update`` from
:class:`IAFCondBase` (with a native quiet step on the CPU, :mod:`._iaf_native`) and supply
``LINEAR``, ``JUMP_FACTORS``, ``NATIVE_DV``, ``_dV_free``, ``_rhs`` and
``_conductance_states`` instead.
"""

from typing import Dict, Optional, Tuple

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine import native_loop, rkf45
from . import _iaf_native
from ._base import InputDynamics, device_constants, dt_ms, magnitude, on_device

__all__ = ["IAFBase", "IAFCondBase"]


class IAFBase(InputDynamics):
    """Common base of the NEST ``iaf_*`` models (see the module docstring).

    Class attributes a model sets:

    * ``NEST_NAME``: the NEST model it mirrors (used in messages);
    * ``PARAMETERS``: ``{name: (default, unit)}`` in NEST's names and units;
    * ``FLAGS``: ``{name: default}`` of boolean switches (they select code, not values);
    * ``DELTA_UNIT``: unit of the weights given with ``add_delta_input``;
    * ``RECORDABLES``: NEST names of the recordables, in NEST's order.
    """

    NEST_NAME = "iaf"
    PARAMETERS: Dict[str, Tuple[float, object]] = {}
    FLAGS: Dict[str, bool] = {}
    MAY_BE_INFINITE: Tuple[str, ...] = ()
    DELTA_UNIT = u.pA
    RECORDABLES: Tuple[str, ...] = ("V_m",)
    N_PORTS = 2

    def __init__(self, in_size, V_initializer=None, name: Optional[str] = None, **params):
        super().__init__(in_size, name=name)
        self.flags = {}
        for flag, default in self.FLAGS.items():
            self.flags[flag] = bool(params.pop(flag, default))
        unknown = set(params) - set(self.PARAMETERS)
        if unknown:
            raise TypeError(f"{self.NEST_NAME} has no parameters {sorted(unknown)}; it has "
                            f"{sorted(list(self.PARAMETERS) + list(self.FLAGS))}.")
        given = {k: params.get(k, default) for k, (default, _) in self.PARAMETERS.items()}
        self.params = self._per_neuron(given)
        self._validate(self.params)
        self.V_initializer = V_initializer

    # ------------------------------------------------------------------ validation
    @classmethod
    def _fail(cls, param: str, message: str, values) -> None:
        raise ValueError(f"{cls.NEST_NAME}: {param}: {message} "
                         f"(got {np.asarray(values).ravel()[:5].tolist()!r})")

    @classmethod
    def _require(cls, bad, param: str, message: str, values) -> None:
        bad = np.asarray(bad)
        if np.any(bad):
            cls._fail(param, message, np.broadcast_to(values, bad.shape)[bad])

    @classmethod
    def _check(cls, p: Dict[str, np.ndarray]) -> None:
        """NEST's parameter checks (raise ``ValueError`` via ``_require``)."""

    @classmethod
    def _validate(cls, p: Dict[str, np.ndarray]) -> None:
        for name, v in p.items():
            ok = np.isfinite(v) | (np.isinf(v) & (name in cls.MAY_BE_INFINITE))
            cls._require(~ok, name, "must be a finite number.", v)
        cls._check(p)

    @classmethod
    def validate_parameters(cls, kwargs: dict) -> None:
        """Check keyword arguments (model names and units; scalars or per-neuron arrays).

        Missing parameters take their defaults; flags are ignored here. Raises ``ValueError``
        whose message names the parameter and carries NEST's sentence.
        """
        unknown = set(kwargs) - set(cls.PARAMETERS) - set(cls.FLAGS) - {"V_initializer"}
        if unknown:
            raise ValueError(f"{cls.NEST_NAME}: unknown parameters {sorted(unknown)}.")
        p = {}
        for k, (default, unit) in cls.PARAMETERS.items():
            p[k] = np.atleast_1d(magnitude(kwargs.get(k, default), unit, k))
        try:
            shape = np.broadcast_shapes(*(v.shape for v in p.values()))
        except ValueError:
            raise ValueError(f"{cls.NEST_NAME}: parameters have incompatible shapes "
                             f"{ {k: v.shape for k, v in p.items()} }.") from None
        cls._validate({k: np.broadcast_to(v, shape) for k, v in p.items()})

    def _per_neuron(self, given: dict) -> Dict[str, np.ndarray]:
        n = int(np.prod(self.varshape))
        out = {}
        for name, (_, unit) in self.PARAMETERS.items():
            v = magnitude(given[name], unit, name)
            try:
                out[name] = np.broadcast_to(v, self.varshape).reshape(n).astype(np.float64)
            except ValueError:
                raise ValueError(f"{self.NEST_NAME}: {name}: expected a scalar or an array of "
                                 f"shape {self.varshape}, got shape {v.shape}.") from None
        return out

    # ------------------------------------------------------------------ parameters
    def set_parameters(self, **values):
        """Change parameters (constructor keywords and units) between runs; the state is kept
        and the step constants are recomputed."""
        flags = dict(self.flags)
        for flag in self.FLAGS:
            if flag in values:
                flags[flag] = bool(values.pop(flag))
        unknown = set(values) - set(self.PARAMETERS)
        if unknown:
            raise TypeError(f"{self.NEST_NAME} has no parameters {sorted(unknown)}.")
        params = self._per_neuron({**self.params, **values})
        self._validate(params)
        self.params, self.flags = params, flags
        if hasattr(self, "consts"):
            self.consts.value = device_constants(self._step_constants(self.dt), self._dtype())

    def signature(self):
        """What a compiled update depends on besides values: flags and constant shapes."""
        shapes = jax.tree.map(lambda x: (x.shape, str(x.dtype)), self.consts.value)
        return (self.NEST_NAME, tuple(sorted(self.flags.items())),
                tuple(sorted(shapes.items())))

    @property
    def receptor_labels(self):
        return [f"receptor_{k}" for k in range(self.N_PORTS)]

    def constants(self, dt: float) -> Dict[str, np.ndarray]:
        """Per-neuron step constants (NEST's ``pre_run_hook``), float64/int32 NumPy arrays."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def _step_constants(self, dt: float) -> Dict[str, np.ndarray]:
        """:meth:`constants` and what the base class derives from them."""
        return self.constants(dt)

    def _dtype(self):
        return self.V_state.value.dtype

    def _initial_V(self) -> np.ndarray:
        """Initial membrane potential (absolute mV), default ``E_L`` as in NEST."""
        shape = self.varshape
        if self.V_initializer is None:
            return self.params["E_L"].reshape(shape)
        if callable(self.V_initializer):
            v = self.V_initializer(shape)
        else:
            v = self.V_initializer
        return np.broadcast_to(magnitude(v, u.mV, "V_initializer"), shape)

    def init_state(self, batch_size=None, **kwargs):
        if batch_size is not None:
            raise NotImplementedError(f"{self.NEST_NAME} does not support batching.")
        self.dt = dt_ms()
        dtype = brainstate.environ.dftype()
        consts = self._step_constants(self.dt)
        self.consts = brainstate.LongTermState(device_constants(consts, dtype))
        shape = self.varshape
        self.V_state = brainstate.HiddenState(
            on_device(self._V_to_internal(self._initial_V()), dtype))
        self.I_stim = brainstate.HiddenState(on_device(np.zeros(shape), dtype))
        self.refractory_step_count = brainstate.ShortTermState(
            on_device(np.zeros(shape), np.int32))
        self._make_states(shape, dtype)

    def reset_state(self, batch_size=None, **kwargs):
        self.init_state(batch_size, **kwargs)

    def _make_states(self, shape, dtype):
        """The model's own states besides ``V_state``, ``I_stim`` and the refractory count."""

    # NEST's psc models keep V relative to E_L, the cond models absolute.
    V_RELATIVE = False

    def _V_to_internal(self, v_abs):
        v_abs = np.asarray(v_abs, np.float64)
        if self.V_RELATIVE:
            return v_abs - self.params["E_L"].reshape(self.varshape)
        return v_abs

    def _V_absolute(self):
        if self.V_RELATIVE:
            E_L = jnp.broadcast_to(self.consts.value["E_L"], self.varshape)
            return self.V_state.value + E_L
        return self.V_state.value

    # ------------------------------------------------------------------ inputs
    def _begin_update(self):
        """Checks shared by every ``update``."""
        if abs(dt_ms() - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"{self.NEST_NAME} was initialised with dt = {self.dt} ms but is "
                             f"updated with dt = {dt_ms()} ms; call init_state() under the "
                             "new dt.")
        stray = self.unused_delta_labels(self.receptor_labels)
        if stray:
            raise ValueError(f"{self.NEST_NAME} has ports {self.receptor_labels}; delta inputs "
                             f"were given to unknown labels {stray}.")

    def _port_inputs(self, n: int):
        """Weights delivered in this step per port, each (n,); unlabelled ones go to port 0."""
        dtype = self._dtype()
        out = []
        for lab in self.receptor_labels:
            w = self.delta_inputs_for(lab, "receptor_0", self.DELTA_UNIT)
            out.append(jnp.broadcast_to(jnp.asarray(w, dtype).reshape(-1), (n,)))
        return out

    def _given_current(self, x):
        """The current given to this step (pA), one value or one per neuron (flat): it acts
        on the next step (NEST's buffer)."""
        x_now = magnitude(x, u.pA, "x") if isinstance(x, u.Quantity) else x
        return jnp.asarray(x_now + self.current_inputs(u.pA), self._dtype()).reshape(-1)

    def _next_current(self, x, n: int):
        """:meth:`_given_current` as one value per neuron."""
        return jnp.broadcast_to(self._given_current(x), (n,))

    # ------------------------------------------------------------------ read-out
    def _state_map(self) -> dict:
        """NEST recordable name -> (State, index or None) for the non-V recordables."""
        return {}

    def recordable(self, name: str):
        """A recordable by its NEST name (see ``RECORDABLES``), or ``I`` (buffered current)."""
        if name == "V_m":
            return self._V_absolute()
        if name == "I":
            return self.I_stim.value
        states = self._state_map()
        if name in states:
            return self._read(*states[name])
        raise KeyError(f"{self.NEST_NAME} has no recordable {name!r}; it has "
                       f"{self.recordable_names()}.")

    @staticmethod
    def _read(state, index):
        return state.value if index is None else state.value[index]

    def recordable_names(self):
        return list(self.RECORDABLES) + ["I"]

    def set_state_value(self, name: str, value):
        """Set a state by its NEST name (``V_m`` in absolute mV, conductances in nS, currents
        in pA)."""
        dtype = self._dtype()
        value = np.broadcast_to(np.asarray(value, np.float64), self.varshape)
        if name == "V_m":
            self.V_state.value = jnp.asarray(self._V_to_internal(value), dtype)
            return
        states = self._state_map()
        if name not in states:
            raise KeyError(f"{self.NEST_NAME} can set the states "
                           f"{['V_m'] + list(states)}, not {name!r}.")
        state, index = states[name]
        if index is None:
            state.value = jnp.asarray(value, dtype)
        else:
            state.value = state.value.at[index].set(jnp.asarray(value, dtype))

    def check_finite(self):
        """Raise ``FloatingPointError`` if any membrane potential is NaN or infinite."""
        V = np.asarray(self.V_state.value)
        bad = ~np.isfinite(V)
        if bad.any():
            idx = np.flatnonzero(bad)
            raise FloatingPointError(
                f"{self.NEST_NAME} {self.name}: the membrane potential of {idx.size} neuron(s) "
                f"(first indices {idx[:5].tolist()}) became non-finite; the integration "
                "diverged (very large negative conductances or currents?).")


class IAFCondBase(IAFBase):
    """Conductance-based members: GSL RKF45 over each step (NEST's ``gsl_odeiv_evolve_apply``
    loop, absolute tolerance 1e-3, relative 0, the sub-step carried across steps), the
    membrane potential in absolute mV, weights in nS.

    The integrated state is ``(V,) + conductances``; the conductances are linear with constant
    coefficients, listed in :attr:`LINEAR`, so a trial over a whole step takes their stages
    from precomputed Fehlberg polynomials (:func:`rkf45.alpha_factors`) and evaluates only
    :meth:`_dV_free` (:meth:`_whole_step`)."""

    DELTA_UNIT = u.nS
    EPS_ABS = 1e-3  # NEST: gsl_odeiv_control_y_new(1e-3, 0.0)
    #: The conductance states after V, in order: ``("exp", tau)`` for ``g' = −g/τ``,
    #: ``("alpha", tau)`` for the pair ``dg' = −dg/τ, g' = dg − g/τ``; ``tau`` names the
    #: time constant in :meth:`constants`.
    LINEAR: tuple = ()
    #: Models whose state is ``V`` and one LINEAR conductance per port use the
    #: :meth:`update` below. Per port: the constant (a name in :meth:`constants`) a spike's
    #: weight is multiplied by before it is added to the conductance's first state, or None
    #: (added as it is).
    JUMP_FACTORS: Optional[tuple] = None
    #: :meth:`_dV_free` as source for the native quiet step (:mod:`._iaf_native`): the same
    #: operations in the same order, with ``vb`` for ``min(V, V_th)`` at the stage, ``g{j}``
    #: for port ``j``'s conductance, ``istim`` for ``I_stim`` and the constants as
    #: ``{name}``. None: the model has no native step.
    NATIVE_DV: Optional[str] = None

    def init_state(self, batch_size=None, **kwargs):
        super().init_state(batch_size, **kwargs)
        self.integration_step = brainstate.ShortTermState(
            on_device(np.full(self.varshape, self.dt), self._dtype()))

    def _step_constants(self, dt: float) -> Dict[str, np.ndarray]:
        c = super()._step_constants(dt)
        for i, (kind, tau) in enumerate(self.LINEAR):
            fp, fq = rkf45.alpha_factors(1.0 / c[tau], dt)
            c[f"whole_p{i}"] = fp.T    # (N, 8): one column per row of the factor arrays
            if kind == "alpha":
                c[f"whole_q{i}"] = fq.T
        return c

    @staticmethod
    def _dV_free(y, c):
        """dV/dt of a neuron that is not refractory, from the state tuple ``y``."""
        raise NotImplementedError

    def _whole_step(self, y, p, c):
        """The Fehlberg trial over a whole step: the conductances at each stage from the
        factors in ``c``, V from :meth:`_dV_free`. A refractory neuron's dV/dt is 0 at every
        stage (``frozen``)."""
        V0 = y[0]

        def linear(row):
            out, i = [], 1
            for j, (kind, _) in enumerate(self.LINEAR):
                fp = c[f"whole_p{j}"][row]
                if kind == "exp":
                    out.append(fp * y[i])
                    i += 1
                else:
                    fq = c[f"whole_q{j}"][row]
                    out += [fp * y[i], fq * y[i] + fp * y[i + 1]]
                    i += 2
            return tuple(out)

        (V, lin), (err_V, err_lin) = rkf45.trial_with_linear_part(
            lambda V_s, lin_s: self._dV_free((V_s,) + lin_s, p), V0, linear,
            jnp.asarray(self.dt, V0.dtype), frozen=p["refractory"])
        return (V,) + lin, (err_V,) + err_lin

    def _integrate(self, rhs, y, params, H):
        """One simulation step of RKF45 for the state tuple ``y`` of (n,) arrays from the
        carried sub-steps ``H``; returns ``(y, H)``.

        ``rhs(y, params)``; ``params`` holds per-neuron rows (n,) or shared scalars, so the
        integrator can iterate on the few neurons that need sub-steps alone. A neuron that
        diverges (the adaptive loop stalls) gets ``V = NaN`` for ``check_finite``."""
        n = H.shape[0]
        factors = {k: v for k, v in params.items() if k.startswith("whole_")}
        params = {k: v for k, v in params.items() if k not in factors}
        whole = (lambda y_, p_: self._whole_step(y_, p_, factors)) if self.LINEAR else None
        y, H, stalled = rkf45.advance(rhs, y, H, self.dt, self.EPS_ABS, params=params,
                                      compact_size=max(16, n // 16), whole_step=whole)
        return (jnp.where(stalled, jnp.nan, y[0]),) + tuple(y[1:]), H

    def _conductance_states(self) -> tuple:
        """The States of the LINEAR conductances, in the order of the integrated state."""
        raise NotImplementedError

    def _xla_step(self, state: dict, w, c) -> dict:
        """Steps 1–3 of :meth:`update` in XLA operations (the adaptive RKF45 included):
        ``state`` as :func:`._iaf_native.quiet_step` takes it, ``w`` the weights delivered in
        this step (one row per port). Returns the state after the step and ``spike``."""
        names = _iaf_native.names(self)
        r = state["refr"]
        y, H = self._integrate(self._rhs, tuple(state[k] for k in names),
                               {**c, "refractory": r > 0, "I_stim": state["I"]}, state["H"])
        y = list(y)
        for first, factor, w_j in zip(_iaf_native.components(self.LINEAR)[1],
                                      self.JUMP_FACTORS, w):
            y[1 + first] = y[1 + first] + (w_j if factor is None else w_j * c[factor])
        y[0], r, spike = self._refractory_and_threshold(y[0], r, c)
        return {**dict(zip(names, y)), "refr": r, "H": H, "spike": spike}

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step), for
        models whose state is ``V`` and the LINEAR conductances (:attr:`JUMP_FACTORS`):

        1. integrate ``(V, conductances)`` over the step with ``I_stim`` and the refractory
           flag (count > 0 at the start of the step) held constant;
        2. spikes delivered in this step: each port's conductance jumps;
        3. refractory: the count goes down by one and ``V ← V_reset``; otherwise ``V ≥ V_th``
           is a spike: ``V ← V_reset``, refractory for ``t_ref``;
        4. ``I_stim ← x``: the current given with this step drives the next one.

        On the CPU a quiet step runs as a native loop (:mod:`._iaf_native`), which also
        buffers the next current, and the XLA step only for the neurons whose step is not
        quiet."""
        self._begin_update()
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        names = _iaf_native.names(self)
        states = (self.V_state, *self._conductance_states())
        state = {k: st.value.reshape(n) for k, st in zip(names, states)}
        state.update(refr=self.refractory_step_count.value.reshape(n),
                     H=self.integration_step.value.reshape(n),
                     I=self.I_stim.value.reshape(n))
        current = self._given_current(x)
        if _iaf_native.available(self._dtype()) and _iaf_native.supports(self):
            weights = None
            if self._delta_inputs:
                # the ports' rows end to end, shaped (ports, N): where they are neighbouring
                # slices of the network's ring row, XLA passes that row itself to the loop.
                # Behind a barrier, and split into rows only inside the XLA step's loop (of
                # 0 or 1 rounds): XLA would otherwise copy each row out every step for it.
                w = self._port_inputs(n)
                weights = jax.lax.optimization_barrier(jnp.concatenate(w).reshape(len(w), n))
            fast = _iaf_native.quiet_step(self, {**state, "I_next": current}, weights, c,
                                          self.EPS_ABS)
            # the loop left a not-quiet neuron's state, its current too, as it was
            new = native_loop.redo_loud(fast, lambda new: {**self._xla_step(
                {**state, **{k: v for k, v in new.items() if k != "spike"}},
                self._port_inputs(n) if weights is None else list(weights), c),
                "I": jnp.broadcast_to(current, (n,))})
            I_next = new["I"]
        else:
            new = self._xla_step(state, self._port_inputs(n), c)
            I_next = jnp.broadcast_to(current, (n,))

        for k, st in zip(names, states):
            st.value = new[k].reshape(shape)
        self.refractory_step_count.value = new["refr"].reshape(shape)
        self.integration_step.value = new["H"].reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        return new["spike"].reshape(shape).astype(self._dtype())

    def _refractory_and_threshold(self, V, r, c):
        """NEST: refractory -> count down and clamp ``V`` to ``V_reset``; otherwise a spike if
        ``V >= V_th`` (then ``V <- V_reset`` and the count is set)."""
        refractory = r > 0
        spike = ~refractory & (V >= c["V_th"])
        V = jnp.where(refractory | spike, c["V_reset"], V)
        r = jnp.where(spike, c["ref_count"], r - refractory.astype(r.dtype))
        return V, r, spike
