r"""NEST's ``gif_cond_exp``: the generalized integrate-and-fire neuron of Mensi et al. (2012)
and Pozzorini et al. (2015) with a spike-triggered current, a moving threshold, stochastic
(escape-noise) spike emission and exponentially decaying conductances.

.. math::

    C_m \frac{dV}{dt} = -g_L (V - E_L) - g_{ex}(V - E_{ex}) - g_{in}(V - E_{in})
                        - η(t) + I + I_e, \qquad \frac{dg_k}{dt} = -\frac{g_k}{τ_k}

    η(t) = \sum_j η_j, \quad η_j \text{ decays with } τ_{stc,j}, \text{ jumps by } q_{stc,j};
    \qquad V_T(t) = V_T^* + \sum_j γ_j, \quad γ_j \text{ decays with } τ_{sfa,j},
    \text{ jumps by } q_{sfa,j}

    λ(t) = λ_0 \exp\!\left(\frac{V - V_T}{Δ_V}\right), \qquad
    P(\text{spike in a step}) = 1 - e^{-λ h}

``(V, g_ex, g_in)`` is integrated with GSL's RKF45 and ``gsl_odeiv_control_y_new(tol, 0)``
(:func:`pynn_brainpy.engine.rkf45.advance`, ``tol = gsl_error_tol``), the sub-step size
carried from step to step (initially ``dt``).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``):

1. ``I_stc ← Σ_j η_j`` then ``η_j ← η_j e^{−h/τ_{stc,j}}``; ``E_sfa ← V_T^* + Σ_j γ_j`` then
   ``γ_j ← γ_j e^{−h/τ_{sfa,j}}`` (summed in index order; also while refractory).
2. Integrate over ``h`` with ``I``, ``I_stc`` and the refractory flag held constant; while
   refractory ``V`` is read as ``V_reset`` and ``dV/dt = 0``.
3. Spikes delivered in this step: ``g_k ← g_k + W_k`` (nS).
4. Not refractory: ``λ = λ_0 e^{(V − E_sfa)/Δ_V}``; if ``λ > 0`` and ``U < −expm1(−λ h)``
   (``U`` uniform on [0, 1)) a spike at ``(m+1)·h``: ``η_j += q_{stc,j}``,
   ``γ_j += q_{sfa,j}``, ``r ← n_ref`` (``t_ref`` in steps, NEST's tic rounding). ``V`` is
   *not* reset in the spiking step.
   Refractory: ``r ← r − 1`` and ``V ← V_reset``.
5. ``I ← x`` (the current given to this step drives the next one).

Mirrors NEST's ``gif_cond_exp``. The random numbers are JAX's counter-based keys:
``U`` of step ``m`` is ``uniform(fold_in(PRNGKey(seed), m))``, one per neuron, so runs are
reproducible and do not depend on chunking, but they are not NEST's random stream: spike trains
agree with NEST only statistically (rates, ISI distributions), while the membrane potential
between spikes and everything given a spike train is deterministic and matches NEST.

Departures: NEST sorts incoming spikes by the sign of the weight; here the port is the input
label (``receptor_0`` excitatory, ``receptor_1`` inhibitory). ``E_sfa`` and ``I_stc`` can be
set (NEST refuses); the value is what is recorded before the first step and is recomputed from
the adaptation elements at the start of every step, exactly as in NEST.
"""

from typing import Optional

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine import rkf45
from ._base import host_exp
from ._base import refractory_counts
from .aeif_cond import ScalarModel

__all__ = ["gif_cond_exp"]

_VECTORS = ("tau_stc", "q_stc", "tau_sfa", "q_sfa")
_seed_counter = [0]


class gif_cond_exp(ScalarModel):
    r"""Generalized integrate-and-fire with escape noise (NEST ``gif_cond_exp``); see the
    module docstring.

    Parameters (NEST's names, units and defaults): ``g_L`` nS 4, ``E_L`` mV −70, ``V_reset``
    mV −55, ``Delta_V`` mV 0.5, ``V_T_star`` mV −35, ``lambda_0`` 1/s 1, ``E_ex`` mV 0,
    ``E_in`` mV −85, ``tau_syn_ex`` ms 2, ``tau_syn_in`` ms 2, ``t_ref`` ms 4, ``C_m`` pF 80,
    ``tau_stc`` ms (vector), ``q_stc`` pA (vector, same length), ``tau_sfa`` ms (vector),
    ``q_sfa`` mV (vector, same length), ``I_e`` pA 0, ``gsl_error_tol`` 1e-3. Vectors are the
    same for every neuron or one row per neuron (same length for all).

    ``seed``: the model's random stream (default: a per-process counter); change it with
    :meth:`set_seed`.

    Initial state: ``V_m = E_L``, conductances, ``E_sfa``, ``I_stc`` and the adaptation
    elements 0. Recordables: ``V_m``, ``E_sfa``, ``I_stc``, ``g_ex``, ``g_in``, ``I``.
    """

    nest_name = "gif_cond_exp"
    defaults = {"g_L": 4.0, "E_L": -70.0, "V_reset": -55.0, "Delta_V": 0.5,
                "V_T_star": -35.0, "lambda_0": 1.0, "E_ex": 0.0, "E_in": -85.0,
                "tau_syn_ex": 2.0, "tau_syn_in": 2.0, "t_ref": 4.0, "C_m": 80.0,
                "tau_stc": (), "q_stc": (), "tau_sfa": (), "q_sfa": (), "I_e": 0.0,
                "gsl_error_tol": 1e-3}
    param_units = {"g_L": u.nS, "E_L": u.mV, "V_reset": u.mV, "Delta_V": u.mV,
                   "V_T_star": u.mV, "lambda_0": u.Hz, "E_ex": u.mV, "E_in": u.mV,
                   "tau_syn_ex": u.ms, "tau_syn_in": u.ms, "t_ref": u.ms, "C_m": u.pF,
                   "tau_stc": u.ms, "q_stc": u.pA, "tau_sfa": u.ms, "q_sfa": u.mV,
                   "I_e": u.pA, "gsl_error_tol": None}
    recordables = {"V_m": "V", "E_sfa": "sfa", "I_stc": "stc", "g_ex": "g_ex", "g_in": "g_in"}
    settable = tuple(recordables)
    vector_params = _VECTORS

    def __init__(self, in_size, seed: Optional[int] = None, name: Optional[str] = None,
                 **params):
        if seed is None:
            seed = _seed_counter[0]
            _seed_counter[0] += 1
        self.seed = int(seed)
        super().__init__(in_size, name=name, **params)

    def set_seed(self, seed: int):
        """Use the random stream of ``seed`` from now on (no recompilation)."""
        self.seed = int(seed)
        if hasattr(self, "rng_key"):
            self.rng_key.value = jax.random.PRNGKey(self.seed)

    # ---------------------------------------------------------------- parameters
    def set_parameters(self, **values):
        """As :meth:`ScalarModel.set_parameters`; ``seed`` is passed on to :meth:`set_seed`."""
        if "seed" in values:
            seed = int(values.pop("seed"))
            if seed != self.seed:
                self.set_seed(seed)
        super().set_parameters(**values)

    @classmethod
    def validate_parameters(cls, kwargs: dict) -> None:
        """NEST's checks on a (possibly partial) dict of per-neuron values (vectors: one
        vector, or one row per neuron); missing parameters take NEST's defaults."""
        unknown = set(kwargs) - set(cls.defaults)
        if unknown:
            raise ValueError(f"{cls.nest_name}: unknown parameters {sorted(unknown)}.")
        p = {}
        for name, default in cls.defaults.items():
            v = np.asarray(kwargs.get(name, default), float)
            if name in _VECTORS:
                v = v if v.ndim >= 2 else v.reshape(1, -1)
            else:
                v = np.atleast_1d(v)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{cls.nest_name}: {name}: must be finite "
                                 f"(got {v[~np.isfinite(v)].tolist()!r}).")
            p[name] = v
        cls.check(p)

    @classmethod
    def check(cls, p):
        m = cls.nest_name
        for tau, q in (("tau_sfa", "q_sfa"), ("tau_stc", "q_stc")):
            if p[tau].shape[-1] != p[q].shape[-1]:
                raise ValueError(
                    f"{m}: {tau}, {q}: '{tau}' and '{q}' need to have the same dimensions "
                    f"(size of {tau}: {p[tau].shape[-1]}, size of {q}: {p[q].shape[-1]}).")
        checks = (("g_L", lambda v: v > 0, "Membrane conductance must be strictly positive."),
                  ("Delta_V", lambda v: v > 0, "Delta_V must be strictly positive."),
                  ("C_m", lambda v: v > 0, "Capacitance must be strictly positive."),
                  ("t_ref", lambda v: v >= 0, "Refractory time must not be negative."),
                  ("lambda_0", lambda v: v >= 0, "lambda_0 must not be negative."),
                  ("tau_sfa", lambda v: v > 0, "All time constants must be strictly positive."),
                  ("tau_stc", lambda v: v > 0, "All time constants must be strictly positive."),
                  ("tau_syn_ex", lambda v: v > 0,
                   "Synapse time constants must be strictly positive."),
                  ("tau_syn_in", lambda v: v > 0,
                   "Synapse time constants must be strictly positive."),
                  ("gsl_error_tol", lambda v: v > 0,
                   "The gsl_error_tol must be strictly positive."))
        for name, ok, sentence in checks:
            bad = ~ok(p[name])
            if bad.any():
                cls._fail(m, name, sentence, p[name][bad])

    def static_signature(self):
        return (self.params["tau_stc"].shape[-1], self.params["tau_sfa"].shape[-1])

    def constants(self, p, dt):
        c = {k: p[k] for k in ("g_L", "E_L", "V_reset", "Delta_V", "V_T_star", "E_ex", "E_in",
                               "tau_syn_ex", "tau_syn_in", "C_m", "q_stc", "q_sfa", "I_e",
                               "gsl_error_tol")}
        c["lambda_0"] = p["lambda_0"] / 1000.0          # 1/s -> 1/ms, as NEST
        c["P_stc"] = host_exp(-dt / p["tau_stc"])
        c["P_sfa"] = host_exp(-dt / p["tau_sfa"])
        c["ref_count"] = refractory_counts(p["t_ref"], dt)
        return c

    def init_state(self, batch_size=None, **kwargs):
        super().init_state(batch_size, **kwargs)
        self.rng_key = brainstate.LongTermState(jax.random.PRNGKey(self.seed))

    def _make_state(self, c, shape, dtype):
        z = jnp.zeros(shape, dtype)
        n_stc, n_sfa = self.params["tau_stc"].shape[-1], self.params["tau_sfa"].shape[-1]
        E_L = np.broadcast_to(c["E_L"], (int(np.prod(shape)),)).reshape(shape)
        return {"V": jnp.asarray(E_L, dtype), "g_ex": z, "g_in": z, "sfa": z, "stc": z,
                "stc_elems": jnp.zeros((n_stc,) + shape, dtype),
                "sfa_elems": jnp.zeros((n_sfa,) + shape, dtype),
                "r": jnp.zeros(shape, jnp.int32), "H": jnp.full(shape, self.dt, dtype)}

    @staticmethod
    def _rhs(c, I_stim, stc, refractory):
        def rhs(y):
            V_, g_ex, g_in = y
            V = jnp.where(refractory, c["V_reset"], V_)
            I_syn_exc = g_ex * (V - c["E_ex"])
            I_syn_inh = g_in * (V - c["E_in"])
            I_L = c["g_L"] * (V - c["E_L"])
            dV = (((((-I_L) + I_stim) + c["I_e"]) - I_syn_exc) - I_syn_inh - stc) / c["C_m"]
            dV = jnp.where(refractory, jnp.zeros_like(dV), dV)
            return (dV, -g_ex / c["tau_syn_ex"], -g_in / c["tau_syn_in"])
        return rhs

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        n, c, dtype = self._begin_update()
        shape = self.varshape
        n_stc, n_sfa = self.static_signature()
        col = lambda a, j: a[j] if a.ndim >= 1 else a        # vector constant, element j
        stc_e = self.state["stc_elems"].value.reshape(n_stc, n)
        sfa_e = self.state["sfa_elems"].value.reshape(n_sfa, n)
        # 1. adaptation sums, then decay of the elements
        stc = jnp.zeros((n,), dtype)
        stc_new = []
        for j in range(n_stc):
            stc = stc + stc_e[j]
            stc_new.append(col(c["P_stc"], j) * stc_e[j])
        sfa = jnp.broadcast_to(jnp.asarray(c["V_T_star"], dtype), (n,))
        sfa_new = []
        for j in range(n_sfa):
            sfa = sfa + sfa_e[j]
            sfa_new.append(col(c["P_sfa"], j) * sfa_e[j])
        # 2. integrate
        r = self.state["r"].value.reshape(n)
        refractory = r > 0
        names = ("V", "g_ex", "g_in")
        y0 = tuple(self.state[k].value.reshape(n) for k in names)
        y, H, stalled = rkf45.advance(
            self._rhs(c, self.I_stim.value.reshape(n), stc, refractory), y0,
            self.state["H"].value.reshape(n), self.dt, c["gsl_error_tol"])
        V, g_ex, g_in = y
        V = jnp.where(stalled, jnp.nan, V)
        # 3. spikes delivered in this step
        W = self._deltas(n, dtype)
        if W is not None:
            g_ex, g_in = g_ex + W[0], g_in + W[1]
        # 4. escape noise / refractory clamp
        lam = c["lambda_0"] * jnp.exp((V - sfa) / c["Delta_V"])
        key = jax.random.fold_in(self.rng_key.value, self.step_count.value)
        U = jax.random.uniform(key, (n,), dtype)
        spike = ~refractory & (lam > 0) & (U < -jnp.expm1(-lam * self.dt))
        stc_new = [jnp.where(spike, e + col(c["q_stc"], j), e) for j, e in enumerate(stc_new)]
        sfa_new = [jnp.where(spike, e + col(c["q_sfa"], j), e) for j, e in enumerate(sfa_new)]
        r = jnp.where(refractory, r - 1, jnp.where(spike, c["ref_count"], r))
        V = jnp.where(refractory, c["V_reset"], V)
        # 5. buffer the current
        self.I_stim.value = self._next_current(x, n, dtype).reshape(shape)
        stack = lambda parts, k: (jnp.stack(parts) if parts else jnp.zeros((0, n), dtype))
        self._store({"V": V, "g_ex": g_ex, "g_in": g_in, "sfa": sfa, "stc": stc, "r": r,
                     "H": H, "stc_elems": stack(stc_new, n_stc),
                     "sfa_elems": stack(sfa_new, n_sfa)})
        return self._emit(spike, n, dtype)
