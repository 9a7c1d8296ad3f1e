r"""NEST's ``iaf_psc_alpha``: leaky integrate-and-fire with alpha-shaped synaptic currents.

With ``y = V_m − E_L`` and one alpha current per port (``ex``, ``in``):

.. math::

    \frac{dy}{dt} = -\frac{y}{τ_m} + \frac{I_{ex} + I_{in} + I_e + I_{stim}}{C_m}, \qquad
    \frac{d\,dI}{dt} = -\frac{dI}{τ_s}, \quad \frac{dI}{dt} = dI - \frac{I}{τ_s}

A spike of weight ``w`` (pA) adds ``w·e/τ_s`` to ``dI``, so ``I`` peaks at ``w`` ``τ_s`` after
it. Everything is linear and integrated exactly (Rotter & Diesmann 1999): the propagators
``P11 = P22 = e^{−h/τ_s}``, ``P21 = h·P11``, ``P30 = −τ_m/C_m·expm1(−h/τ_m)``,
``P33 − 1 = expm1(−h/τ_m)`` and ``(P31, P32)`` from NEST's ``IAFPropagatorAlpha``
(:mod:`.iaf_propagator`, with the ``τ_m == τ_s`` limit) are computed once, in float64, on the
host.

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Not refractory: ``y ← P30(I_stim + I_e) + P31_ex dI_ex + P32_ex I_ex + P31_in dI_in +
   P32_in I_in + expm1(−h/τ_m)·y + y``, then ``y ← max(y, V_min − E_L)``.
   Refractory: the count goes down by one, ``y`` is held.
2. Per port: ``I ← P21 dI + P22 I``, ``dI ← P11 dI``, then the spikes delivered in this step:
   ``dI ← dI + (e/τ_s)·W``.
3. ``y ≥ V_th − E_L`` (tested also while refractory, as NEST): spike at ``(m+1)·h``,
   ``y ← V_reset − E_L``, refractory for ``t_ref`` rounded to tics and up to steps.
4. ``I_stim ← x``: the current given with this step drives the next one.

Ports: ``receptor_0`` is NEST's excitatory buffer, ``receptor_1`` the inhibitory one. NEST
routes a spike by the sign of its weight (``w > 0`` excitatory); here the label routes it and
the weight keeps its sign, so PyNN's inhibitory weights (negative) on ``receptor_1`` act
exactly as in NEST. The recordable ``I_syn_in`` is the (negative) inhibitory current.

Mirrors NEST 3.10's ``iaf_psc_alpha`` (parameters, defaults, checks, update order).
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import host_exp
from ._base import host_expm1, refractory_counts
from ._iaf_base import IAFBase
from .iaf_propagator import propagator_alpha

__all__ = ["iaf_psc_alpha"]


class iaf_psc_alpha(IAFBase):
    r"""LIF neuron with alpha-shaped PSCs on two ports (NEST ``iaf_psc_alpha``).

    Parameters (NEST names; saiunit quantities or plain numbers in these units; scalars or
    per-neuron arrays of shape ``in_size``):

    E_L (mV, −70), C_m (pF, 250), tau_m (ms, 10), t_ref (ms, 2), V_th (mV, −55),
    V_reset (mV, −70), tau_syn_ex (ms, 2), tau_syn_in (ms, 2), I_e (pA, 0),
    V_min (mV, −inf: lower bound of V_m).
    V_initializer: initial V_m (absolute mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')`` with ``w`` in pA
    (signed); ``update(x)`` with ``x`` in pA acting on the next step.
    Recordables: ``V_m``, ``I_syn_ex``, ``I_syn_in`` (pA), ``I``.
    """

    NEST_NAME = "iaf_psc_alpha"
    PARAMETERS = {
        "E_L": (-70.0, u.mV), "C_m": (250.0, u.pF), "tau_m": (10.0, u.ms),
        "t_ref": (2.0, u.ms), "V_th": (-55.0, u.mV), "V_reset": (-70.0, u.mV),
        "tau_syn_ex": (2.0, u.ms), "tau_syn_in": (2.0, u.ms), "I_e": (0.0, u.pA),
        "V_min": (-np.inf, u.mV),
    }
    MAY_BE_INFINITE = ("V_min",)
    DELTA_UNIT = u.pA
    RECORDABLES = ("V_m", "I_syn_ex", "I_syn_in")
    V_RELATIVE = True

    def __init__(self, in_size, E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                 V_reset=-70.0, tau_syn_ex=2.0, tau_syn_in=2.0, I_e=0.0, V_min=-np.inf,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, E_L=E_L, C_m=C_m,
                         tau_m=tau_m, t_ref=t_ref, V_th=V_th, V_reset=V_reset,
                         tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, I_e=I_e, V_min=V_min)

    @classmethod
    def _check(cls, p):
        cls._require(~(p["C_m"] > 0), "C_m", "Capacitance must be > 0.", p["C_m"])
        cls._require(~(p["tau_m"] > 0), "tau_m", "Membrane time constant must be > 0.",
                     p["tau_m"])
        for k in ("tau_syn_ex", "tau_syn_in"):
            cls._require(~(p[k] > 0), k, "All synaptic time constants must be > 0.", p[k])
        cls._require(p["t_ref"] < 0, "t_ref", "The refractory time t_ref can't be negative.",
                     p["t_ref"])
        cls._require(p["V_reset"] >= p["V_th"], "V_reset",
                     "Reset potential must be smaller than threshold.", p["V_reset"])

    def constants(self, dt: float):
        p, h = self.params, dt
        c = {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
             "V_reset": p["V_reset"] - p["E_L"], "V_min": p["V_min"] - p["E_L"],
             "ref_count": refractory_counts(p["t_ref"], h)}
        c["P30"] = -p["tau_m"] / p["C_m"] * host_expm1(-h / p["tau_m"])
        c["expm1_tau_m"] = host_expm1(-h / p["tau_m"])
        for port, key in (("ex", "tau_syn_ex"), ("in", "tau_syn_in")):
            P11 = host_exp(-h / p[key])
            c[f"P11_{port}"] = P11
            c[f"P21_{port}"] = h * P11
            c[f"P31_{port}"], c[f"P32_{port}"] = propagator_alpha(p[key], p["tau_m"],
                                                                  p["C_m"], h)
            c[f"psc_init_{port}"] = 1.0 * np.e / p[key]
        return c

    def _make_states(self, shape, dtype):
        zeros = lambda: brainstate.HiddenState(jnp.zeros(shape, dtype))
        self.dI_ex, self.I_ex, self.dI_in, self.I_in = zeros(), zeros(), zeros(), zeros()

    def _state_map(self):
        return {"I_syn_ex": (self.I_ex, None), "I_syn_in": (self.I_in, None)}

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        flat = lambda st: st.value.reshape(n)
        y3, r = flat(self.V_state), flat(self.refractory_step_count)
        dI_ex, I_ex, dI_in, I_in = (flat(s) for s in (self.dI_ex, self.I_ex, self.dI_in,
                                                      self.I_in))
        y0 = flat(self.I_stim)
        refractory = r > 0

        # 1. membrane potential (held while refractory)
        y_new = (c["P30"] * (y0 + c["I_e"]) + c["P31_ex"] * dI_ex + c["P32_ex"] * I_ex
                 + c["P31_in"] * dI_in + c["P32_in"] * I_in + c["expm1_tau_m"] * y3 + y3)
        y_new = jnp.where(y_new < c["V_min"], c["V_min"], y_new)
        y3 = jnp.where(refractory, y3, y_new)
        r = r - refractory.astype(r.dtype)

        # 2. alpha currents, then the spikes delivered in this step
        w_ex, w_in = self._port_inputs(n)
        I_ex = c["P21_ex"] * dI_ex + c["P11_ex"] * I_ex
        dI_ex = dI_ex * c["P11_ex"] + c["psc_init_ex"] * w_ex
        I_in = c["P21_in"] * dI_in + c["P11_in"] * I_in
        dI_in = dI_in * c["P11_in"] + c["psc_init_in"] * w_in

        # 3. threshold
        spike = y3 >= c["Theta"]
        r = jnp.where(spike, c["ref_count"], r)
        y3 = jnp.where(spike, c["V_reset"], y3)

        # 4. buffer the current for the next step
        I_next = self._next_current(x, n)

        self.V_state.value = y3.reshape(shape)
        self.refractory_step_count.value = r.reshape(shape)
        self.dI_ex.value, self.I_ex.value = dI_ex.reshape(shape), I_ex.reshape(shape)
        self.dI_in.value, self.I_in.value = dI_in.reshape(shape), I_in.reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        return spike.reshape(shape).astype(self._dtype())
