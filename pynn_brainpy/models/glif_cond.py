r"""NEST's ``glif_cond``: the Allen Institute GLIF1–5 neurons with alpha-shaped conductances.

Membrane potential, relative to the resting potential (``V = V_m − E_L``), with ``n`` synaptic
ports and the after-spike-current sum ``Σ``:

.. math::

    C_m \frac{dV}{dt} = -G V - \sum_k g_k (V + E_L - E_{rev,k}) + I + Σ
    \qquad\text{(0 while refractory)}

    \frac{d\,dg_k}{dt} = -\frac{dg_k}{τ_k}, \qquad
    \frac{dg_k}{dt} = dg_k - \frac{g_k}{τ_k}

A spike of weight ``w`` (nS) on port ``k`` adds ``w·e/τ_k`` to ``dg_k``, so ``g_k`` peaks at ``w``
``τ_k`` after it. ``V, dg, g`` are integrated with GSL's adaptive RKF45 exactly as NEST does
(:mod:`pynn_brainpy.engine.rkf45`, absolute tolerance 1e-3, per-neuron sub-step carried across
steps). The threshold ``Θ = θ_s + θ_v + th_inf`` and the after-spike currents ``I_j`` have
closed-form updates once per step of length ``h``.

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``; ``v_old`` is V at the start of the step):

1. Integrate ``(V, dg, g)`` over ``h`` with ``I``, ``Σ`` and the refractory flag held constant.
2. If not refractory:

   a. R (spike-dependent threshold): ``θ_s ← θ_s·e^{−b_s h}``;
   b. ``Σ ← Σ_j c_j I_j`` with ``c_j = (1 − e^{−k_j h})/(k_j h)``, then ``I_j ← I_j e^{−k_j h}``
      (Σ = 0 without after-spike currents);
   c. A (adapting threshold): with ``β = (I + Σ)/G``, ``φ = a_v/(b_v − G/C_m)``, ``ρ = a_v/b_v``,
      ``θ_v ← φ(v_old−β)e^{−Gh/C_m} + e^{−b_v h}(θ_v − φ(v_old−β) − ρβ) + ρβ``
      (the exact solution of ``dθ_v/dt = a_v V − b_v θ_v`` for V relaxing from ``v_old`` to
      ``β``; conductances do not enter);
   d. ``Θ ← θ_s + θ_v + th_inf``; a spike if ``V > Θ`` (strict). On a spike: refractory for
      ``RC`` steps (``t_ref`` rounded to tics, then up to steps, as NEST); ASC:
      ``I_j ← ΔI_j + r_j e^{−k_j t_ref} I_j``; GLIF1/3: ``V ← V_reset − E_L``;
      GLIF2/4/5: ``V ← f_v·v_old + V_add`` and ``θ_s ← θ_s e^{−b_s t_ref} + Δθ_s``.
      The spike time is ``(m+1)·h``.

3. If refractory: count down, ``V ← v_old``; ``θ_s, θ_v, I_j, Σ`` are frozen.
4. Spikes delivered in this step: ``dg_k ← dg_k + W_k·e/τ_k`` (also while refractory).
5. The current given to this step is buffered: ``I ← x``; it drives the *next* step's ODE.

Variants (``spike_dependent_threshold``, ``after_spike_currents``, ``adapting_threshold``):
GLIF1 (F,F,F), GLIF2 (T,F,F), GLIF3 (F,T,F), GLIF4 (T,T,F), GLIF5 (T,T,T).

Steps 1–4 are :meth:`glif_cond._step` in XLA operations. On the CPU a *quiet* step (every
neuron covers it in one whole-step RKF45 trial with error ratio < 0.5: nearly every step)
runs instead as one native loop over the neurons with the same expressions
(:mod:`._glif_native`); where some neuron's step is not quiet, ``_step`` runs.

Where this model departs from NEST (all documented in ``docs/glif_cond.md``):

* ``asc_init`` is the initial after-spike-current state (NEST ignores it unless its state
  ``ASCurrents`` is set); the first step uses ``Σ = 0``, as NEST does when ``ASCurrents`` is set.
  There are ``len(asc_decay)`` after-spike currents.
* ``I_e`` (pA, default 0) is a constant current added to ``I`` (not in NEST's model).
* ``th_voltage_decay == g/C_m`` makes ``φ`` infinite and is refused (NEST returns NaN).
* A diverging neuron (one that needs more than 10 000 RKF45 trials in one step, where GSL
  would shrink its step towards one ulp and never finish) gets ``V = NaN``; a non-finite
  membrane potential is reported by :meth:`glif_cond.check_finite` (the PyNN layer calls it
  after every run) instead of propagating silently. Finite excursions (NEST reaches −6e9 mV
  with a −2000 nS weight) are integrated as in NEST.
"""

from typing import Optional, Sequence

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ..engine import native_loop, rkf45
from . import _glif_native
from ._base import (InputDynamics, device_constants, dt_ms, host_exp, magnitude, on_device,
                    refractory_counts)

__all__ = ["glif_cond", "GLIF_VARIANTS", "validate_parameters"]

#: (spike_dependent_threshold, after_spike_currents, adapting_threshold) of GLIF1..5.
GLIF_VARIANTS = {
    (False, False, False): 1,
    (True, False, False): 2,
    (False, True, False): 3,
    (True, True, False): 4,
    (True, True, True): 5,
}

_EPS_ABS = 1e-3  # NEST's gsl_odeiv_control_y_new(1e-3, 0.0)

#: Units of the constructor's parameters (None: dimensionless).
_SCALAR_UNITS = {
    "g": u.nS, "E_L": u.mV, "V_th": u.mV, "V_reset": u.mV, "C_m": u.pF, "t_ref": u.ms,
    "th_spike_add": u.mV, "th_spike_decay": 1 / u.ms, "voltage_reset_fraction": None,
    "voltage_reset_add": u.mV, "th_voltage_index": 1 / u.ms, "th_voltage_decay": 1 / u.ms,
    "I_e": u.pA,
}
_ASC_UNITS = {"asc_init": u.pA, "asc_decay": 1 / u.ms, "asc_amps": u.pA, "asc_r": None}
_PORT_UNITS = {"tau_syn": u.ms, "E_rev": u.mV}


def _fail(param: str, message: str, values) -> None:
    raise ValueError(f"glif_cond: {param}: {message} (got {np.asarray(values).tolist()!r})")


def validate_parameters(p: dict, flags: Sequence[bool]) -> None:
    """NEST's checks of ``glif_cond`` parameters (spec §2), on host arrays in model units.

    ``p`` holds per-neuron arrays: scalars of shape (N,), ``asc_*`` (N, n_asc), ``tau_syn`` and
    ``E_rev`` (N, n_ports). Raises ``ValueError`` naming the parameter; the sentences are
    NEST's. Checks of disabled mechanisms are skipped, as in NEST.
    """
    R, ASC, A = (bool(f) for f in flags)
    if (R, ASC, A) not in GLIF_VARIANTS:
        raise ValueError(
            "glif_cond: spike_dependent_threshold, after_spike_currents, adapting_threshold: "
            "Incorrect model mechanism combination setting. Valid combinations are GLIF1 "
            "(False, False, False), GLIF2 (True, False, False), GLIF3 (False, True, False), "
            f"GLIF4 (True, True, False) and GLIF5 (True, True, True); got {(R, ASC, A)}.")
    bad = p["V_reset"] >= p["V_th"]
    if np.any(bad):
        _fail("V_reset", "Reset potential must be smaller than threshold V_th.", p["V_reset"][bad])
    for name, sentence in (("C_m", "Capacitance must be strictly positive."),
                           ("g", "Membrane conductance must be strictly positive."),
                           ("t_ref", "Refractory time constant must be strictly positive.")):
        bad = ~(p[name] > 0)
        if np.any(bad):
            _fail(name, sentence, p[name][bad])
    if R:
        bad = ~(p["th_spike_decay"] > 0)
        if np.any(bad):
            _fail("th_spike_decay",
                  "Spike induced threshold time constant must be strictly positive.",
                  p["th_spike_decay"][bad])
        f = p["voltage_reset_fraction"]
        bad = ~((f >= 0) & (f <= 1))
        if np.any(bad):
            _fail("voltage_reset_fraction",
                  "Voltage fraction coefficient following spike must be within [0.0, 1.0].", f[bad])
    if ASC:
        sizes = {k: p[k].shape[-1] for k in _ASC_UNITS}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                "glif_cond: asc_init, asc_decay, asc_amps, asc_r: All after spike current "
                f"parameters must have the same size (got sizes {sizes}).")
        bad = ~(p["asc_decay"] > 0)
        if np.any(bad):
            _fail("asc_decay", "After-spike current time constant must be strictly positive.",
                  p["asc_decay"][bad])
        r = p["asc_r"]
        bad = ~((r >= 0) & (r <= 1))
        if np.any(bad):
            _fail("asc_r", "After spike current fraction following spike coefficients r must be "
                  "within [0.0, 1.0].", r[bad])
    if A:
        bad = ~(p["th_voltage_decay"] > 0)
        if np.any(bad):
            _fail("th_voltage_decay",
                  "Voltage-induced threshold time constant must be strictly positive.",
                  p["th_voltage_decay"][bad])
        bad = p["th_voltage_decay"] == p["g"] / p["C_m"]
        if np.any(bad):
            _fail("th_voltage_decay", "must differ from g/C_m: the voltage-induced threshold's "
                  "closed-form update divides by th_voltage_decay - g/C_m.",
                  p["th_voltage_decay"][bad])
    if p["tau_syn"].shape[-1] != p["E_rev"].shape[-1]:
        raise ValueError(
            "glif_cond: E_rev, tau_syn: The reversal potential and synaptic time constant "
            f"arrays, i.e., E_rev ({p['E_rev'].shape[-1]}) and tau_syn "
            f"({p['tau_syn'].shape[-1]}), must have the same size.")
    if p["tau_syn"].shape[-1] < 1:
        raise ValueError("glif_cond: tau_syn: at least one synaptic port is required.")
    bad = ~(p["tau_syn"] > 0)
    if np.any(bad):
        _fail("tau_syn", "All synaptic time constants must be strictly positive.",
              p["tau_syn"][bad])


def _compact_size(n: int) -> int:
    """How many neurons the adaptive RKF45 loop may gather to iterate on alone: after the
    first trial of a step usually only a few neurons still need sub-steps."""
    return max(16, n // 16)


class _AbsoluteV:
    """``model.V``: the membrane potential in absolute mV over the relative internal state."""

    def __init__(self, model):
        self._model = model

    @property
    def value(self):
        m = self._model
        return m.V_rel.value + m.consts.value["E_L"]

    @value.setter
    def value(self, v):
        m = self._model
        dtype = m.V_rel.value.dtype
        v = np.broadcast_to(np.asarray(magnitude(v, u.mV, "V"), dtype), m.varshape)
        m.V_rel.value = on_device(v - np.asarray(m.consts.value["E_L"]), dtype)


class glif_cond(InputDynamics):
    r"""GLIF1–5 with alpha-shaped conductances on any number of ports (NEST ``glif_cond``).

    Parameters take saiunit quantities or plain numbers in the units below; every scalar may
    also be a per-neuron array of shape ``in_size``, and the vector parameters an array of
    shape ``in_size + (n,)``.

    Parameters
    ----------
    in_size : int or tuple of int
    g : nS, membrane (leak) conductance (NEST ``g_m``), default 9.43
    E_L : mV, resting potential, default −78.85
    V_th : mV, instantaneous threshold, default −51.68
    V_reset : mV, reset potential of GLIF1/3, default −78.85
    C_m : pF, capacitance, default 58.72
    t_ref : ms, refractory period, default 3.75
    th_spike_add : mV, threshold jump per spike (R), default 0.37
    th_spike_decay : 1/ms, spike-threshold decay rate (R), default 0.009
    voltage_reset_fraction : 1, ``f_v`` of the R reset, default 0.2
    voltage_reset_add : mV, ``V_add`` of the R reset, default 18.51
    th_voltage_index : 1/ms, ``a_v`` (A), default 0.005
    th_voltage_decay : 1/ms, ``b_v`` (A), default 0.09
    asc_init : pA, initial after-spike currents, default (0, 0)
    asc_decay : 1/ms, after-spike current decay rates ``k_j``, default (0.003, 0.1)
    asc_amps : pA, after-spike current jumps ``ΔI_j``, default (−9.18, −198.94)
    asc_r : 1, after-spike current fractions ``r_j``, default (1, 1)
    tau_syn : ms, alpha time constant per port (its length sets the port count), default (0.2, 2)
    E_rev : mV, reversal potential per port, default (0, −85)
    spike_dependent_threshold, after_spike_currents, adapting_threshold : bool
        The mechanism flags selecting GLIF1–5.
    I_e : pA, constant external current, default 0
    V_initializer : callable, array or quantity, initial ``V`` (absolute mV); default ``E_L``
    name : str, optional

    Inputs
    ------
    ``add_delta_input(key, w, label='receptor_k')`` adds ``w`` nS to port ``k`` (0-based; NEST
    receptor ``k+1``) at the end of the next step; an unlabelled delta input goes to port 0.
    ``update(x)`` takes the external current in pA, which acts on the following step.
    """

    # Defaults are plain numbers in the documented units: a saiunit Quantity made at import
    # time would be stored in the then-default float32 and lose digits (0.2 ms -> 0.2000000030).
    def __init__(self, in_size, g=9.43, E_L=-78.85, V_th=-51.68, V_reset=-78.85, C_m=58.72,
                 t_ref=3.75, th_spike_add=0.37, th_spike_decay=0.009,
                 voltage_reset_fraction=0.20, voltage_reset_add=18.51, th_voltage_index=0.005,
                 th_voltage_decay=0.09, asc_init=(0.0, 0.0), asc_decay=(0.003, 0.1),
                 asc_amps=(-9.18, -198.94), asc_r=(1.0, 1.0), tau_syn=(0.2, 2.0),
                 E_rev=(0.0, -85.0), spike_dependent_threshold=False, after_spike_currents=False,
                 adapting_threshold=False, I_e=0.0, V_initializer=None,
                 name: Optional[str] = None):
        super().__init__(in_size, name=name)
        self.flags = (bool(spike_dependent_threshold), bool(after_spike_currents),
                      bool(adapting_threshold))
        given = dict(g=g, E_L=E_L, V_th=V_th, V_reset=V_reset, C_m=C_m, t_ref=t_ref,
                     th_spike_add=th_spike_add, th_spike_decay=th_spike_decay,
                     voltage_reset_fraction=voltage_reset_fraction,
                     voltage_reset_add=voltage_reset_add, th_voltage_index=th_voltage_index,
                     th_voltage_decay=th_voltage_decay, I_e=I_e, asc_init=asc_init,
                     asc_decay=asc_decay, asc_amps=asc_amps, asc_r=asc_r, tau_syn=tau_syn,
                     E_rev=E_rev)
        self.params = self._per_neuron_params(given)
        validate_parameters(self.params, self.flags)
        self.V_initializer = V_initializer

    # ------------------------------------------------------------------ parameters
    def set_parameters(self, **values):
        """Change parameters (same keywords and units as the constructor) between runs.

        The state is kept; the step constants are recomputed. The numbers of ports and of
        after-spike currents cannot change (they fix the state's shape).
        """
        flag_names = ("spike_dependent_threshold", "after_spike_currents", "adapting_threshold")
        flags = tuple(bool(values.pop(n, f)) for n, f in zip(flag_names, self.flags))
        unknown = set(values) - set(self.params)
        if unknown:
            raise TypeError(f"glif_cond has no parameters {sorted(unknown)}.")
        params = self._per_neuron_params({**self.params, **values})
        for name in ("tau_syn", "asc_decay"):
            if params[name].shape != self.params[name].shape:
                raise ValueError(f"glif_cond: {name}: the number of values cannot change after "
                                 "the model is built (it fixes the state's shape).")
        validate_parameters(params, flags)
        self.params, self.flags = params, flags
        if hasattr(self, "consts"):
            self.consts.value = device_constants(self.constants(self.dt),
                                                  self.V_rel.value.dtype)

    def signature(self):
        """What a compiled update depends on besides values: the flags and the shapes."""
        shapes = jax.tree.map(lambda x: (x.shape, str(x.dtype)), self.consts.value)
        return (self.flags, tuple(sorted(shapes.items())))

    @property
    def variant(self) -> int:
        """1..5, the GLIF variant selected by the flags."""
        return GLIF_VARIANTS[self.flags]

    @property
    def n_receptors(self) -> int:
        return int(self.params["tau_syn"].shape[-1])

    @property
    def n_asc(self) -> int:
        return int(self.params["asc_decay"].shape[-1])

    @property
    def receptor_labels(self):
        return [f"receptor_{k}" for k in range(self.n_receptors)]

    def _per_neuron_params(self, given: dict) -> dict:
        n = int(np.prod(self.varshape))
        out = {}
        for name, unit in _SCALAR_UNITS.items():
            v = magnitude(given[name], unit, name)
            try:
                out[name] = np.broadcast_to(v, self.varshape).reshape(n).copy()
            except ValueError:
                raise ValueError(f"glif_cond: {name}: expected a scalar or an array of shape "
                                 f"{self.varshape}, got shape {v.shape}.") from None
        for name, unit in {**_ASC_UNITS, **_PORT_UNITS}.items():
            v = np.atleast_1d(magnitude(given[name], unit, name))
            try:
                out[name] = np.broadcast_to(v, self.varshape + v.shape[-1:]).reshape(
                    n, v.shape[-1]).copy()
            except ValueError:
                raise ValueError(f"glif_cond: {name}: expected a vector or an array of shape "
                                 f"{self.varshape} + (n,), got shape {v.shape}.") from None
        return out

    def constants(self, dt: float) -> dict:
        """Per-neuron step constants (NEST's ``pre_run_hook``), float64 NumPy arrays."""
        p = self.params
        h = dt
        one = np.ones_like(p["g"])
        c = {
            "E_L": p["E_L"],
            "th_inf": p["V_th"] - p["E_L"],
            "V_reset": p["V_reset"] - p["E_L"],
            "G": p["g"], "C_m": p["C_m"], "I_e": p["I_e"],
            "f_v": p["voltage_reset_fraction"], "V_add": p["voltage_reset_add"],
            "th_spike_add": p["th_spike_add"],
            "tau_syn": p["tau_syn"], "E_rev": p["E_rev"],
            "kappa": np.e / p["tau_syn"],
            "asc_amps": p["asc_amps"],
            "ref_count": refractory_counts(p["t_ref"], h),
        }
        # Fehlberg's stage polynomials for the conductance pairs over a whole step, (N, 8·ports)
        # with column s·ports + k for stage row s and port k (see _whole_step).
        fp, fq = rkf45.alpha_factors(1.0 / p["tau_syn"], h)
        c["alpha_p"], c["alpha_q"] = (np.moveaxis(f, 0, 1).reshape(len(one), -1) for f in (fp, fq))
        R, ASC, A = self.flags
        c["d_s"] = host_exp(-p["th_spike_decay"] * h) if R else one
        c["D_s"] = host_exp(-p["th_spike_decay"] * p["t_ref"]) if R else one
        if ASC:
            k = p["asc_decay"]
            c["d_asc"] = host_exp(-k * h)
            c["c_asc"] = ((1.0 / k) / h) * (1.0 - c["d_asc"])
            c["D_asc"] = p["asc_r"] * host_exp(-k * p["t_ref"][:, None])
        else:
            c["d_asc"] = c["c_asc"] = c["D_asc"] = np.ones_like(p["asc_decay"])
        if A:
            G, C, bv, av = p["g"], p["C_m"], p["th_voltage_decay"], p["th_voltage_index"]
            c["P_V"] = host_exp(-G * h / C)
            c["P_th"] = 1 / host_exp(bv * h)
            c["phi"] = av / (bv - G / C)
            c["rho"] = av / bv
        else:
            c["P_V"] = c["P_th"] = c["phi"] = c["rho"] = one
        return c

    # ------------------------------------------------------------------ state
    def init_state(self, batch_size=None, **kwargs):
        """Create the states. ``g_syn``, ``dg_syn`` are port-major: ``(n_receptors,) + varshape``;
        ``asc`` is ``(n_asc,) + varshape``."""
        if batch_size is not None:
            raise NotImplementedError("glif_cond does not support batching.")
        self.dt = dt_ms()
        dtype = brainstate.environ.dftype()
        shape = self.varshape
        consts = self.constants(self.dt)
        self.consts = brainstate.LongTermState(device_constants(consts, dtype))
        nr, na = self.n_receptors, self.n_asc
        zeros = lambda *lead: on_device(np.zeros(lead + shape), dtype)
        if self.V_initializer is None:
            v_abs = consts["E_L"].reshape(shape)
        elif callable(self.V_initializer):
            v_abs = magnitude(self.V_initializer(shape), u.mV, "V_initializer")
        else:
            v_abs = np.broadcast_to(magnitude(self.V_initializer, u.mV, "V_initializer"), shape)
        self.V_rel = brainstate.HiddenState(
            on_device(np.asarray(v_abs) - consts["E_L"].reshape(shape), dtype))
        self.dg_syn = brainstate.HiddenState(zeros(nr))
        self.g_syn = brainstate.HiddenState(zeros(nr))
        self.I_stim = brainstate.HiddenState(zeros())
        self.asc = brainstate.HiddenState(
            on_device(self.params["asc_init"].T.reshape((na,) + shape), dtype))
        self.asc_sum = brainstate.HiddenState(zeros())
        self.threshold_spike = brainstate.HiddenState(zeros())
        self.threshold_voltage = brainstate.HiddenState(zeros())
        self.refractory_step_count = brainstate.ShortTermState(
            on_device(np.zeros(shape), np.int32))
        self.integration_step = brainstate.ShortTermState(on_device(np.full(shape, self.dt),
                                                                    dtype))

    def reset_state(self, batch_size=None, **kwargs):
        self.init_state(batch_size, **kwargs)

    @property
    def V(self):
        """Membrane potential in absolute mV (``.value`` readable and settable)."""
        return _AbsoluteV(self)

    # ------------------------------------------------------------------ dynamics
    def _rhs_params(self, c, refractory, I_tot, asc_sum):
        """Inputs of :meth:`_rhs`: per-neuron rows (N,), port-major (n_ports, N) or shared
        values; homogeneous port vectors become (n_ports, 1) so that their last axis is never
        taken for the neuron axis."""
        ports = lambda v: v.reshape(-1, 1) if v.ndim == 1 else v
        return {"refractory": refractory, "E_L": c["E_L"],
                "G": c["G"], "C_m": c["C_m"], "I": I_tot, "asc_sum": asc_sum,
                "E_rev": ports(c["E_rev"]), "tau_syn": ports(c["tau_syn"])}

    @staticmethod
    def _dV_free(V, g, p):
        """dV/dt of a neuron that is not refractory, in NEST's arithmetic order."""
        I_syn = 0.0
        for k in range(len(g)):
            I_syn = I_syn + g[k] * (V + p["E_L"] - p["E_rev"][k])
        return (-(p["G"] * V) - I_syn + p["I"] + p["asc_sum"]) / p["C_m"]

    @classmethod
    def _rhs(cls, y, p):
        """Right-hand side for (V, dg_k, g_k) (NEST's glif_cond_dynamics). While refractory
        dV/dt = 0; NEST evaluates the synaptic current at V_reset then, which only enters
        the zeroed dV/dt, so it is not computed."""
        V, dg, g = y
        dV = jnp.where(p["refractory"], 0.0, cls._dV_free(V, g, p))
        return (dV, tuple(-dg[k] / p["tau_syn"][k] for k in range(len(g))),
                tuple(dg[k] - g[k] / p["tau_syn"][k] for k in range(len(g))))

    @classmethod
    def _whole_step(cls, y, p, c, h):
        """The Fehlberg trial over a whole step with the conductances' stages from their
        precomputed polynomials (:func:`rkf45.alpha_factors`): only ``V`` needs the
        right-hand side; ``dg_k``, ``g_k`` are ``p·dg_k`` and ``q·dg_k + p·g_k`` at each stage.
        A refractory neuron's stages of dV/dt are all 0 (``frozen``)."""
        V0, dg, g = y
        ports = len(dg)

        def conductances(row):
            fp = [c["alpha_p"][row * ports + k] for k in range(ports)]
            fq = [c["alpha_q"][row * ports + k] for k in range(ports)]
            return (tuple(fp[k] * dg[k] for k in range(ports)),
                    tuple(fq[k] * dg[k] + fp[k] * g[k] for k in range(ports)))

        (V, (dg, g)), (err_V, err_lin) = rkf45.trial_with_linear_part(
            lambda V_s, lin: cls._dV_free(V_s, lin[1], p), V0, conductances,
            jnp.asarray(h, V0.dtype), frozen=p["refractory"])
        return (V, dg, g), (err_V, err_lin)

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        if abs(dt_ms() - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"glif_cond was initialised with dt = {self.dt} ms but is updated "
                             f"with dt = {dt_ms()} ms; call init_state() under the new dt.")
        stray = self.unused_delta_labels(self.receptor_labels)
        if stray:
            raise ValueError(f"glif_cond has ports {self.receptor_labels}; delta inputs were "
                             f"given to unknown labels {stray}.")
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        dtype = self.V_rel.value.dtype
        # The step's inputs, (N,) rows and (rows, N) for ports and after-spike currents.
        flat = lambda st: st.value.reshape(n)
        stacked = lambda st: st.value.reshape(st.value.shape[0], n)
        state = {"V": flat(self.V_rel), "dg": stacked(self.dg_syn), "g": stacked(self.g_syn),
                 "I": flat(self.I_stim), "asc": stacked(self.asc), "asc_sum": flat(self.asc_sum),
                 "th_s": flat(self.threshold_spike), "th_v": flat(self.threshold_voltage),
                 "refr": flat(self.refractory_step_count), "H": flat(self.integration_step),
                 "delta": None}
        if self._delta_inputs:
            # 4. (below) Spikes delivered in this step, nS per port. Joined end to end and
            # then shaped (ports, N): where the ports' rows are neighbouring slices of one
            # array (the network's ring row), XLA sees the whole array again and copies
            # nothing (a stack of the rows was a copy every step)
            state["delta"] = jnp.concatenate([jnp.broadcast_to(jnp.asarray(
                self.delta_inputs_for(lab, "receptor_0", u.nS), dtype).reshape(-1), (n,))
                for lab in self.receptor_labels]).reshape(self.n_receptors, n)
        # 5. (below) The current buffered for the next step: one value or one per neuron.
        x_now = magnitude(x, u.pA, "x") if isinstance(x, u.Quantity) else x
        current = jnp.asarray(x_now + self.current_inputs(u.pA), dtype).reshape(-1)
        if _glif_native.available(dtype):
            # nearly every step is quiet: the native loop (in place, I_stim too), then the
            # XLA step for the neurons whose step was not (the loop left their state as it
            # was). The inputs go behind a barrier: XLA would otherwise take the ports' rows
            # for the XLA step (in a loop of 0 or 1 rounds) from the inputs themselves and
            # copy them out every step, outside that loop.
            if state["delta"] is not None:
                state["delta"] = jax.lax.optimization_barrier(state["delta"])
            fast = _glif_native.quiet_step({**state, "I_next": current}, c, self.flags,
                                           self.n_receptors, self.n_asc, self.dt, _EPS_ABS)
            new = native_loop.redo_loud(fast, lambda new: {
                **self._step({**state, **{k: new[k] for k in _glif_native.IN_PLACE}}, c),
                "I": jnp.broadcast_to(current, (n,))})
            I_next = new["I"]
        else:
            new = self._step(state, c)
            I_next = jnp.broadcast_to(current, (n,))

        self.V_rel.value = new["V"].reshape(shape)
        self.dg_syn.value = new["dg"].reshape(self.dg_syn.value.shape)
        self.g_syn.value = new["g"].reshape(self.g_syn.value.shape)
        self.integration_step.value = new["H"].reshape(shape)
        self.threshold_spike.value = new["th_s"].reshape(shape)
        self.threshold_voltage.value = new["th_v"].reshape(shape)
        self.asc.value = new["asc"].reshape(self.asc.value.shape)
        self.asc_sum.value = new["asc_sum"].reshape(shape)
        self.refractory_step_count.value = new["refr"].reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        # a bool row from the XLA step, 0/1 floats from the native loop
        return new["spike"].reshape(shape).astype(dtype)

    def _step(self, state: dict, c: dict) -> dict:
        """Steps 1–4 of the update in XLA operations, any step (adaptive RKF45 included):
        the new state from ``state`` (see :meth:`update`), ``spike`` a bool row."""
        R, ASC, A = self.flags
        n = state["V"].shape[0]
        v_old, refr_count = state["V"], state["refr"]
        refractory = refr_count > 0
        I_tot = state["I"] + c["I_e"]
        asc_sum = state["asc_sum"]

        # 1. ODE step over dt (a diverging neuron is marked with V = NaN for check_finite).
        (V, dg, g), H, stalled = rkf45.advance(
            self._rhs, (v_old, tuple(state["dg"]), tuple(state["g"])), state["H"], self.dt,
            _EPS_ABS, params=self._rhs_params(c, refractory, I_tot, asc_sum),
            compact_size=_compact_size(n),
            whole_step=lambda y, p: self._whole_step(y, p, c, self.dt))
        V = jnp.where(stalled, jnp.nan, V)

        # 2. Threshold components and after-spike currents of non-refractory neurons.
        th_s, th_v, asc = state["th_s"], state["th_v"], tuple(state["asc"])
        live = lambda new, old: jnp.where(refractory, old, new)  # refractory: frozen
        if R:
            th_s = live(th_s * c["d_s"], th_s)
        if ASC:
            new_sum = 0.0
            for j in range(self.n_asc):
                new_sum = new_sum + c["c_asc"][j] * asc[j]
            asc = tuple(live(asc[j] * c["d_asc"][j], asc[j]) for j in range(self.n_asc))
            asc_sum = live(new_sum, asc_sum)
        else:
            asc_sum = live(jnp.zeros_like(asc_sum), asc_sum)
        if A:
            beta = (I_tot + asc_sum) / c["G"]
            pv = c["phi"] * (v_old - beta)
            th_v = live(pv * c["P_V"] + c["P_th"] * (th_v - pv - c["rho"] * beta)
                        + c["rho"] * beta, th_v)
        spike = ~refractory & (V > th_s + th_v + c["th_inf"])

        # 3. Reset of spiking neurons; refractory ones hold V at its value from the step start.
        if ASC:
            asc = tuple(jnp.where(spike, c["asc_amps"][j] + asc[j] * c["D_asc"][j], asc[j])
                        for j in range(self.n_asc))
        if R:
            V = jnp.where(spike, c["f_v"] * v_old + c["V_add"], V)
            th_s = jnp.where(spike, th_s * c["D_s"] + c["th_spike_add"], th_s)
        else:
            V = jnp.where(spike, c["V_reset"], V)
        V = jnp.where(refractory, v_old, V)
        refr_count = jnp.where(spike, c["ref_count"], refr_count - refractory.astype(jnp.int32))

        # 4. Spikes delivered in this step: dg_k += W_k·e/τ_k (also while refractory).
        if state["delta"] is not None:
            dg = tuple(dg[k] + state["delta"][k] * c["kappa"][k] for k in range(len(dg)))

        stack = lambda parts, like: jnp.stack(parts) if parts else like
        return {"V": V, "dg": stack(dg, state["dg"]), "g": stack(g, state["g"]), "H": H,
                "th_s": th_s, "th_v": th_v, "asc": stack(asc, state["asc"]),
                "asc_sum": asc_sum, "refr": refr_count, "spike": spike}

    # ------------------------------------------------------------------ readout
    def recordable(self, name: str):
        """A NEST recordable by NEST's name: ``V_m``, ``g_<k>`` (1-based), ``threshold``
        (absolute), ``threshold_spike``, ``threshold_voltage``, ``ASCurrents_sum``, ``I``."""
        E_L = jnp.broadcast_to(self.consts.value["E_L"], self.varshape)
        if name == "V_m":
            return self.V_rel.value + E_L
        if name == "threshold":
            th_inf = jnp.broadcast_to(self.consts.value["th_inf"], self.varshape)
            return (self.threshold_spike.value + self.threshold_voltage.value + th_inf) + E_L
        simple = {"threshold_spike": self.threshold_spike, "threshold_voltage":
                  self.threshold_voltage, "ASCurrents_sum": self.asc_sum, "I": self.I_stim}
        if name in simple:
            return simple[name].value
        if name.startswith("g_") and name[2:].isdigit() and 1 <= int(name[2:]) <= self.n_receptors:
            return self.g_syn.value[int(name[2:]) - 1]
        raise KeyError(f"glif_cond has no recordable {name!r}; it has "
                       f"{self.recordable_names()}.")

    def set_state_value(self, name: str, value):
        """Set a state by its NEST name; only ``V_m`` (absolute mV) is settable."""
        if name != "V_m":
            raise KeyError(f"glif_cond can set the state V_m only, not {name!r}.")
        self.V.value = np.asarray(value, float).reshape(self.varshape)

    def recordable_names(self):
        return (["V_m"] + [f"g_{k + 1}" for k in range(self.n_receptors)] +
                ["threshold", "threshold_spike", "threshold_voltage", "ASCurrents_sum", "I"])

    def check_finite(self):
        """Raise ``FloatingPointError`` if any membrane potential is NaN or infinite."""
        V = np.asarray(self.V_rel.value)
        bad = ~np.isfinite(V)
        if bad.any():
            idx = np.flatnonzero(bad)
            raise FloatingPointError(
                f"glif_cond {self.name}: the membrane potential of {idx.size} neuron(s) "
                f"(first indices {idx[:5].tolist()}) became non-finite; the integration "
                "diverged (very large negative conductances or currents?).")
