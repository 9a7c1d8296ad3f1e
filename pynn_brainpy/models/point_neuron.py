r"""NEST's multisynapse point neurons: any number of receptor ports, each with its own
post-synaptic response. They simulate PyNN's composed ``PointNeuron`` (see
:mod:`pynn_brainpy.standardmodels.composed`), and are usable on their own.

:class:`iaf_psc_exp_multisynapse` mirrors NEST's ``iaf_psc_exp_multisynapse``
------------------------------------------------------------------------------

LIF with one exponentially decaying current per port ``k`` (``V = V_m − E_L``):

.. math::

    \frac{dV}{dt} = -\frac{V}{τ_m} + \frac{\sum_k I_k + I_e + I_{stim}}{C_m},\qquad
    \frac{dI_k}{dt} = -\frac{I_k}{τ_k}

integrated exactly: ``P22 = e^{−h/τ_m}``, ``P20 = τ_m/C_m·(1 − P22)``, ``P11_k = e^{−h/τ_k}``
and ``P21_k`` from NEST's ``IAFPropagatorExp`` (:mod:`.iaf_propagator`). A spike of weight
``w`` (pA, signed) on port ``k`` makes ``I_k`` jump by ``w``.

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. not refractory: ``V ← V·P22 + (I_e + I_stim)·P20``, then ``V ← V + P21_k·I_k`` for
   ``k = 0, 1, …`` in turn (NEST's summation order); refractory: the count goes down by one.
2. ``I_k ← I_k·P11_k + W_k`` (``W_k``: the spikes delivered on port ``k`` in this step).
3. ``V ≥ V_th − E_L``: spike at ``(m+1)·h``, ``V ← V_reset − E_L``, refractory for ``t_ref``
   (tic-rounded, then whole steps).
4. ``I_stim ← x`` (the current given with this step drives the next one).

As NEST 3.10, ``tau_syn`` equal to ``tau_m`` is refused.

:class:`aeif_cond_beta_multisynapse` mirrors NEST's ``aeif_cond_beta_multisynapse``
--------------------------------------------------------------------------------------

AdEx (Brette & Gerstner 2005) with a beta-shaped conductance per port:

.. math::

    C_m \frac{dV}{dt} = -g_L (V - E_L) + g_L Δ_T e^{(V - V_{th})/Δ_T}
                        + \sum_k g_k (E_{rev,k} - V) - w + I_e + I_{stim}

    τ_w \frac{dw}{dt} = a (V - E_L) - w, \qquad
    \frac{d\,dg_k}{dt} = -\frac{dg_k}{τ_{rise,k}},\quad
    \frac{dg_k}{dt} = dg_k - \frac{g_k}{τ_{decay,k}}

A spike of weight ``w`` (nS, ≥ 0) adds ``w·g0_k`` to ``dg_k``, with NEST's
``beta_normalization_factor`` (``g_k`` peaks at ``w``; ``e/τ`` when ``τ_rise = τ_decay``, which
is exactly NEST's ``aeif_cond_alpha_multisynapse``, see :class:`aeif_cond_alpha_multisynapse`).
Extension (no NEST model has it): ``tau_rise = 0`` makes port ``k`` exponential as in
``aeif_cond_exp``: ``dg_k`` stays 0, ``dg_k/dt = −g_k/τ_decay`` and a spike adds ``w`` to
``g_k`` (used for PyNN's ``CondExpPostSynapticResponse`` on an ``AdExp`` neuron).

In the right-hand side ``V`` is ``min(V, V_peak)``, and ``V_reset`` with ``dV/dt = 0`` while
refractory. Integrated with GSL's RKF45 and NEST's ``yp`` control (``gsl_error_tol`` for both
tolerances), the sub-step size carried across steps (initially ``min(0.01 ms, h)``).

Per-step order, as NEST's ``update``:

1. Integrate over ``h`` with ``I_stim`` held. After *every accepted sub-step*: refractory →
   ``V ← V_reset``; else ``V ≥ V_peak`` (``V_th`` if ``Δ_T = 0``) → spike, ``V ← V_reset``,
   ``w ← w + b``, ``r ← n_ref + 1`` (0 if ``n_ref = 0``). NEST's instability check
   (``V < −1000`` or ``|w| > 10⁶``) marks the neuron with ``V = NaN`` (``check_finite`` raises).
2. ``r ← r − 1`` if ``r > 0``.
3. Spikes delivered in this step: ``dg_k ← dg_k + W_k·g0_k`` (exponential ports: ``g_k``).
4. ``I_stim ← x``.

Departures from NEST (as :mod:`.aeif_cond`): one spike per step at most (NEST can send
several when ``t_ref = 0``; the count is kept in ``spike_count``); a neuron needing more than
100 000 RKF45 trials in one step is stopped with ``V = NaN``.

Ports are labelled ``receptor_0 … receptor_{K−1}`` (NEST's ``receptor_type`` 1 … K);
recordables use NEST's names: ``V_m``, ``w``, ``g_1 … g_K`` / ``I_syn_1 … I_syn_K``.
"""

import math
from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import refractory_counts
from ..engine import rkf45
from .aeif_cond import ScalarModel
from ._base import host_exp
from .iaf_propagator import propagator_exp

__all__ = ["iaf_psc_exp_multisynapse", "aeif_cond_beta_multisynapse",
           "aeif_cond_alpha_multisynapse", "beta_normalization_factor"]

_EPS = np.finfo(np.float64).eps
_MAX_EXP_ARG = math.log(np.finfo(np.float64).max / 1e20)


def beta_normalization_factor(tau_rise: float, tau_decay: float) -> float:
    """NEST's ``beta_normalization_factor`` (peak conductance 1 nS per 1 nS of weight)."""
    tau_difference = tau_decay - tau_rise
    peak_value = 0.0
    if abs(tau_difference) > _EPS:
        t_peak = tau_decay * tau_rise * math.log(tau_decay / tau_rise) / tau_difference
        peak_value = math.exp(-t_peak / tau_decay) - math.exp(-t_peak / tau_rise)
    if abs(peak_value) < _EPS:
        return math.e / tau_decay
    return (1.0 / tau_rise - 1.0 / tau_decay) / peak_value


class _MultiSynapse(ScalarModel):
    """Ports from the number of receptors (the length of the vector parameters)."""

    vector_params = ()
    vector_state = ""         # the per-port state recorded as f"{prefix}_{k+1}"
    vector_prefix = ""

    def __init__(self, in_size, name: Optional[str] = None, **params):
        super().__init__(in_size, name=name, **params)
        self.n_receptors = int(self.params[self.vector_params[0]].shape[1])
        if self.n_receptors < 1:
            raise ValueError(f"{self.nest_name}: at least one receptor port is needed.")
        self.ports = tuple(f"receptor_{k}" for k in range(self.n_receptors))

    @classmethod
    def _check_sizes(cls, p):
        sizes = {name: p[name].shape[1] for name in cls.vector_params}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"{cls.nest_name}: {', '.join(cls.vector_params)}: the arrays "
                             f"must have the same size (got {sizes}).")

    delta_unit = u.nS

    def _deltas(self, n: int, dtype):
        """Per port, the sum of this step's delta inputs (``delta_unit``), shape (n,)."""
        if not self._delta_inputs:
            return None
        return [jnp.broadcast_to(jnp.asarray(self.delta_inputs_for(
            lab, self.ports[0], self.delta_unit), dtype).reshape(-1), (n,)) for lab in self.ports]

    def _port_rows(self, c, key):
        """A (K, n) or (K, 1) view of a per-port constant."""
        return c[key].reshape(self.n_receptors, -1)

    # readout with NEST's per-port names
    @property
    def recordables(self):
        rec = {"V_m": "V", **self.extra_recordables}
        rec.update({f"{self.vector_prefix}_{k + 1}": (self.vector_state, k)
                    for k in range(getattr(self, "n_receptors", 0))})
        return rec

    extra_recordables = {}

    @property
    def settable(self):
        return tuple(self.recordables)

    def _value_of(self, key):
        if isinstance(key, tuple):
            return self.state[key[0]].value[key[1]]
        return self.state[key].value

    def recordable(self, name: str):
        """A NEST recordable by NEST's name (``V_m``, ``g_1`` …); ``I`` is the buffered
        external current (pA)."""
        if name == "I":
            return self.I_stim.value
        key = self.recordables.get(name)
        if key is None:
            raise KeyError(f"{self.nest_name} has no recordable {name!r}; it has "
                           f"{self.recordable_names()}.")
        return self._to_nest(name, self._value_of(key))

    def _to_nest(self, name, value):
        return value

    def _from_nest(self, name, value):
        return value

    def set_state_value(self, name: str, value):
        """Set a state by its NEST name (``V_m``, ``w``, ``g_k`` …), a scalar or one value per
        neuron."""
        key = self.recordables.get(name)
        if key is None:
            raise KeyError(f"{self.nest_name} can set the states {list(self.settable)}, not "
                           f"{name!r}.")
        n = int(np.prod(self.varshape))
        v = np.asarray(value, float)
        v = np.broadcast_to(v.reshape(-1) if v.ndim else v, (n,))
        v = self._from_nest(name, v)
        if isinstance(key, tuple):
            st = self.state[key[0]]
            st.value = st.value.at[key[1]].set(jnp.asarray(v, st.value.dtype).reshape(
                st.value.shape[1:]))
        else:
            st = self.state[key]
            st.value = jnp.asarray(v, st.value.dtype).reshape(st.value.shape)


# ====================================================================== iaf_psc_exp_multisynapse
class iaf_psc_exp_multisynapse(_MultiSynapse):
    """LIF with exponential PSCs on any number of ports; mirrors NEST's
    ``iaf_psc_exp_multisynapse`` (see the module docstring for the equations and order).

    Parameters (NEST names, units and defaults): ``E_L`` mV −70, ``C_m`` pF 250, ``tau_m`` ms
    10, ``t_ref`` ms 2, ``V_th`` mV −55, ``V_reset`` mV −70, ``I_e`` pA 0, ``tau_syn`` ms, one
    per port (default ``[2.0]``); scalars or one value (vector) per neuron.
    Inputs: ``add_delta_input(key, w_pA, label='receptor_k')``; ``update(x)``, ``x`` in pA.
    Recordables: ``V_m`` (absolute mV), ``I_syn_1 … I_syn_K`` (pA).
    """

    nest_name = "iaf_psc_exp_multisynapse"
    defaults = {"E_L": -70.0, "C_m": 250.0, "tau_m": 10.0, "t_ref": 2.0, "V_th": -55.0,
                "V_reset": -70.0, "I_e": 0.0, "tau_syn": (2.0,)}
    param_units = {"E_L": u.mV, "C_m": u.pF, "tau_m": u.ms, "t_ref": u.ms, "V_th": u.mV,
                   "V_reset": u.mV, "I_e": u.pA, "tau_syn": u.ms}
    vector_params = ("tau_syn",)
    vector_state = "i_syn"
    vector_prefix = "I_syn"
    delta_unit = u.pA

    @classmethod
    def check(cls, p):
        m = cls.nest_name
        cls._check_sizes(p)
        bad = ~(p["C_m"] > 0)
        if bad.any():
            cls._fail(m, "C_m", "Capacitance must be > 0.", p["C_m"][bad])
        bad = ~(p["tau_m"] > 0)
        if bad.any():
            cls._fail(m, "tau_m", "Membrane time constant must be strictly positive.",
                      p["tau_m"][bad])
        bad = ~(p["tau_syn"] > 0)
        if bad.any():
            cls._fail(m, "tau_syn", "All synaptic time constants must be strictly positive.",
                      p["tau_syn"][bad])
        bad = p["tau_syn"] == p["tau_m"][:, None]
        if bad.any():
            cls._fail(m, "tau_syn", "Membrane and synapse time constant(s) must differ. See "
                      "note in documentation.", p["tau_syn"][bad])
        bad = p["t_ref"] < 0
        if bad.any():
            cls._fail(m, "t_ref", "Refractory time must not be negative.", p["t_ref"][bad])
        bad = p["V_reset"] >= p["V_th"]
        if bad.any():
            cls._fail(m, "V_reset", "Reset potential must be smaller than threshold.",
                      p["V_reset"][bad])

    def constants(self, p, dt):
        P22 = host_exp(-dt / p["tau_m"])
        return {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
                "V_reset": p["V_reset"] - p["E_L"], "ref_count": refractory_counts(p["t_ref"], dt),
                "P22": P22, "P20": p["tau_m"] / p["C_m"] * (1.0 - P22),
                "P11": host_exp(-dt / p["tau_syn"]),
                "P21": propagator_exp(p["tau_syn"], p["tau_m"][:, None], p["C_m"][:, None], dt)}

    def _make_state(self, c, shape, dtype):
        k = c["P11"].shape[1]
        return {"V": jnp.zeros(shape, dtype), "i_syn": jnp.zeros((k,) + tuple(shape), dtype),
                "r": jnp.zeros(shape, jnp.int32)}

    def _to_nest(self, name, value):
        if name == "V_m":          # V is kept relative to E_L, as in NEST
            n = int(np.prod(self.varshape))
            return value + jnp.broadcast_to(self.consts.value["E_L"], (n,)).reshape(
                self.varshape)
        return value

    def _from_nest(self, name, value):
        if name == "V_m":
            return value - np.broadcast_to(self.params["E_L"], value.shape)
        return value

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        n, c, dtype = self._begin_update()
        K = self.n_receptors
        V = self.state["V"].value.reshape(n)
        r = self.state["r"].value.reshape(n)
        i_syn = self.state["i_syn"].value.reshape(K, n)
        i_0 = self.I_stim.value.reshape(n)
        P11, P21 = self._port_rows(c, "P11"), self._port_rows(c, "P21")
        refractory = r > 0
        # 1. membrane potential, NEST's summation order
        V_new = V * c["P22"] + (c["I_e"] + i_0) * c["P20"]
        for k in range(K):
            V_new = V_new + P21[k] * i_syn[k]
        V = jnp.where(refractory, V, V_new)
        r = r - refractory.astype(r.dtype)
        # 2. decay, then this step's spikes
        W = self._deltas(n, dtype)
        i_syn = i_syn * P11
        if W is not None:
            i_syn = i_syn + jnp.stack(W)
        # 3. threshold
        spike = V >= c["Theta"]
        r = jnp.where(spike, c["ref_count"], r)
        V = jnp.where(spike, c["V_reset"], V)
        # 4. current for the next step
        self.I_stim.value = self._next_current(x, n, dtype).reshape(self.varshape)
        self._store({"V": V, "r": r, "i_syn": i_syn})
        return self._emit(spike, n, dtype)


# ====================================================================== aeif_cond_*_multisynapse
_AEIF_MULTI_DEFAULTS = {
    "V_peak": 0.0, "V_reset": -60.0, "t_ref": 0.0, "g_L": 30.0, "C_m": 281.0, "E_L": -70.6,
    "Delta_T": 2.0, "tau_w": 144.0, "a": 4.0, "b": 80.5, "V_th": -50.4, "I_e": 0.0,
    "gsl_error_tol": 1e-6,
}
_AEIF_MULTI_UNITS = {
    "V_peak": u.mV, "V_reset": u.mV, "t_ref": u.ms, "g_L": u.nS, "C_m": u.pF, "E_L": u.mV,
    "Delta_T": u.mV, "tau_w": u.ms, "a": u.nS, "b": u.pA, "V_th": u.mV, "I_e": u.pA,
    "gsl_error_tol": None, "E_rev": u.mV, "tau_rise": u.ms, "tau_decay": u.ms,
    "tau_syn": u.ms,
}


class aeif_cond_beta_multisynapse(_MultiSynapse):
    """AdEx with beta-shaped conductances on any number of ports; mirrors NEST's
    ``aeif_cond_beta_multisynapse`` (see the module docstring; ``tau_rise = 0`` gives an
    exponential port, an extension).

    Parameters (NEST names, units and defaults): ``C_m`` pF 281, ``g_L`` nS 30, ``E_L`` mV
    −70.6, ``V_th`` mV −50.4, ``Delta_T`` mV 2, ``V_peak`` mV 0, ``V_reset`` mV −60, ``t_ref``
    ms 0, ``a`` nS 4, ``b`` pA 80.5, ``tau_w`` ms 144, ``I_e`` pA 0, ``gsl_error_tol`` 1e-6;
    per port: ``E_rev`` mV (``[0]``), ``tau_rise`` ms (``[2]``), ``tau_decay`` ms (``[20]``).
    Inputs: ``add_delta_input(key, w_nS, label='receptor_k')``; ``update(x)``, ``x`` in pA.
    Recordables: ``V_m``, ``w``, ``g_1 … g_K`` (nS).
    """

    nest_name = "aeif_cond_beta_multisynapse"
    defaults = {**_AEIF_MULTI_DEFAULTS, "E_rev": (0.0,), "tau_rise": (2.0,),
                "tau_decay": (20.0,)}
    param_units = _AEIF_MULTI_UNITS
    vector_params = ("E_rev", "tau_rise", "tau_decay")
    vector_state = "g"
    vector_prefix = "g"
    extra_recordables = {"w": "w"}

    @classmethod
    def _check_aeif(cls, p):
        m = cls.nest_name
        bad = p["V_peak"] < p["V_th"]
        if bad.any():
            cls._fail(m, "V_peak", "V_peak >= V_th required.", p["V_peak"][bad])
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
        bad = ~(p["C_m"] > 0)
        if bad.any():
            cls._fail(m, "C_m", "Capacitance must be strictly positive.", p["C_m"][bad])
        bad = p["t_ref"] < 0
        if bad.any():
            cls._fail(m, "t_ref", "Refractory time cannot be negative.", p["t_ref"][bad])
        bad = ~(p["tau_w"] > 0)
        if bad.any():
            cls._fail(m, "tau_w", "All time constants must be strictly positive.",
                      p["tau_w"][bad])
        bad = ~(p["gsl_error_tol"] > 0)
        if bad.any():
            cls._fail(m, "gsl_error_tol", "The gsl_error_tol must be strictly positive.",
                      p["gsl_error_tol"][bad])

    @classmethod
    def check(cls, p):
        m = cls.nest_name
        cls._check_sizes(p)
        cls._check_aeif(p)
        bad = p["tau_rise"] < 0
        if bad.any():
            cls._fail(m, "tau_rise", "All synaptic time constants must be strictly positive "
                      "(0 selects an exponential port).", p["tau_rise"][bad])
        bad = ~(p["tau_decay"] > 0)
        if bad.any():
            cls._fail(m, "tau_decay", "All synaptic time constants must be strictly positive.",
                      p["tau_decay"][bad])
        bad = p["tau_rise"] > p["tau_decay"]
        if bad.any():
            cls._fail(m, "tau_rise", "Synaptic rise time must be smaller than or equal to "
                      "decay time.", p["tau_rise"][bad])
        zero = p["tau_rise"] == 0
        mixed = zero.any(axis=0) & ~zero.all(axis=0)
        if mixed.any():
            cls._fail(m, "tau_rise", "tau_rise = 0 (an exponential port) must hold for all "
                      "neurons or none on a port.", np.flatnonzero(mixed))

    def _kinds(self):
        """Per port: True if exponential (``tau_rise = 0``)."""
        return tuple(bool(v) for v in np.all(self.params["tau_rise"] == 0, axis=0))

    def static_signature(self):
        return (bool(np.any(self.params["Delta_T"] == 0)), self._kinds())

    def constants(self, p, dt):
        c = {k: p[k] for k in ("V_peak", "V_reset", "g_L", "C_m", "E_L", "Delta_T", "tau_w",
                               "a", "b", "V_th", "I_e", "E_rev", "tau_decay")}
        c["tau_rise"] = np.where(p["tau_rise"] > 0, p["tau_rise"], 1.0)
        pairs = np.stack([p["tau_rise"], p["tau_decay"]], -1).reshape(-1, 2)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        g0 = np.array([beta_normalization_factor(a, b) if a > 0 else 1.0 for a, b in uniq])
        c["g0"] = g0[inverse.reshape(-1)].reshape(p["tau_rise"].shape)
        c["V_spike"] = np.where(p["Delta_T"] > 0, p["V_peak"], p["V_th"])
        c["ref_count"] = refractory_counts(p["t_ref"], dt)
        tol = p["gsl_error_tol"]
        if brainstate.environ.dftype() == jnp.float32:
            tol = np.maximum(tol, 1e-4)
        c["tol"] = tol
        return c

    def _make_state(self, c, shape, dtype):
        k = c["E_rev"].shape[1]
        z = jnp.zeros((k,) + tuple(shape), dtype)
        return {"V": jnp.asarray(np.reshape(c["E_L"], shape), dtype), "w": jnp.zeros(shape, dtype),
                "dg": z, "g": z, "r": jnp.zeros(shape, jnp.int32),
                "H": jnp.full(shape, min(0.01, self.dt), dtype),
                "spike_count": jnp.zeros(shape, jnp.int32)}

    def _rhs(self, c, I_stim, refractory, has_zero_delta, kinds):
        K = self.n_receptors
        E_rev, tau_r, tau_d = (self._port_rows(c, k) for k in ("E_rev", "tau_rise", "tau_decay"))

        def rhs(y):
            V_, w = y[0], y[1]
            V = jnp.where(refractory, c["V_reset"], jnp.minimum(V_, c["V_peak"]))
            I_syn = 0.0
            for k in range(K):
                I_syn = I_syn + y[3 + 2 * k] * (E_rev[k] - V)
            I_spike = c["Delta_T"] * c["g_L"] * jnp.exp((V - c["V_th"]) / c["Delta_T"])
            if has_zero_delta:
                I_spike = jnp.where(c["Delta_T"] == 0, 0.0, I_spike)
            dV = ((((-c["g_L"] * (V - c["E_L"]) + I_spike) + I_syn) - w) + c["I_e"]
                  + I_stim) / c["C_m"]
            dV = jnp.where(refractory, jnp.zeros_like(dV), dV)
            dw = (c["a"] * (V - c["E_L"]) - w) / c["tau_w"]
            out = [dV, dw]
            for k in range(K):
                dg, g = y[2 + 2 * k], y[3 + 2 * k]
                if kinds[k]:
                    out += [jnp.zeros_like(dg), -g / tau_d[k]]
                else:
                    out += [-dg / tau_r[k], dg - g / tau_d[k]]
            return tuple(out)
        return rhs

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        n, c, dtype = self._begin_update()
        K = self.n_receptors
        row = lambda k: self.state[k].value.reshape(n)
        dg0 = self.state["dg"].value.reshape(K, n)
        g0 = self.state["g"].value.reshape(K, n)
        y0 = (row("V"), row("w")) + tuple(a for k in range(K) for a in (dg0[k], g0[k]))
        I_stim = self.I_stim.value.reshape(n)
        has_zero, kinds = self.static_signature()
        ref_count = c["ref_count"]

        def rhs_of(aux):
            r, _ = aux
            return self._rhs(c, I_stim, r > 0, has_zero, kinds)

        def on_substep(y, aux, take):
            r, count = aux
            V, w = y[0], y[1]
            refr = take & (r > 0)
            spike = take & ~(r > 0) & (V >= c["V_spike"])
            unstable = take & ((V < -1e3) | (w < -1e6) | (w > 1e6))
            V = jnp.where(refr | spike, c["V_reset"], V)
            V = jnp.where(unstable, jnp.nan, V)
            w = jnp.where(spike, w + c["b"], w)
            r = jnp.where(spike, jnp.where(ref_count > 0, ref_count + 1, 0), r)
            return (V, w) + tuple(y[2:]), (r, count + spike.astype(jnp.int32))

        aux0 = (row("r"), jnp.zeros((n,), jnp.int32))
        y, H, (r, count), stalled = rkf45.advance_with_events(
            rhs_of, rkf45.ratio_yp(c["tol"], c["tol"]), on_substep, y0, row("H"), aux0, self.dt)
        V = jnp.where(stalled, jnp.nan, y[0])
        dg = jnp.stack([y[2 + 2 * k] for k in range(K)])
        g = jnp.stack([y[3 + 2 * k] for k in range(K)])
        # 2. refractory countdown
        r = jnp.where(r > 0, r - 1, r)
        # 3. spikes delivered in this step
        W = self._deltas(n, dtype)
        if W is not None:
            G0 = self._port_rows(c, "g0")
            rows_dg, rows_g = [], []
            for k in range(K):
                if kinds[k]:
                    rows_dg.append(dg[k])
                    rows_g.append(g[k] + W[k])
                else:
                    rows_dg.append(dg[k] + W[k] * G0[k])
                    rows_g.append(g[k])
            dg, g = jnp.stack(rows_dg), jnp.stack(rows_g)
        # 4. buffer the current for the next step
        self.I_stim.value = self._next_current(x, n, dtype).reshape(self.varshape)
        self._store({"V": V, "w": y[1], "dg": dg, "g": g, "H": H, "r": r,
                     "spike_count": count})
        return self._emit(count > 0, n, dtype)


class aeif_cond_alpha_multisynapse(aeif_cond_beta_multisynapse):
    """AdEx with alpha-shaped conductances on any number of ports; mirrors NEST's
    ``aeif_cond_alpha_multisynapse``: the beta model with ``tau_rise = tau_decay = tau_syn``
    (the same right-hand side, and ``g0 = e/tau_syn`` as NEST's alpha model).

    Parameters as :class:`aeif_cond_beta_multisynapse` with, per port, ``E_rev`` mV (``[0]``)
    and ``tau_syn`` ms (``[2]``) instead of ``tau_rise`` / ``tau_decay``.
    """

    nest_name = "aeif_cond_alpha_multisynapse"
    defaults = {**_AEIF_MULTI_DEFAULTS, "E_rev": (0.0,), "tau_syn": (2.0,)}
    vector_params = ("E_rev", "tau_syn")

    @classmethod
    def check(cls, p):
        cls._check_sizes(p)
        cls._check_aeif(p)
        bad = ~(p["tau_syn"] > 0)
        if bad.any():
            cls._fail(cls.nest_name, "tau_syn", "All synaptic time constants must be strictly "
                      "positive", p["tau_syn"][bad])

    def _kinds(self):
        return (False,) * self.params["tau_syn"].shape[1]

    def constants(self, p, dt):
        q = {k: v for k, v in p.items() if k != "tau_syn"}
        q["tau_rise"] = q["tau_decay"] = p["tau_syn"]
        return super().constants(q, dt)
