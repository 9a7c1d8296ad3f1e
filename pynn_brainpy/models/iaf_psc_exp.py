r"""NEST's ``iaf_psc_exp``: leaky integrate-and-fire with exponential synaptic currents.

With ``V = V_m − E_L`` and one exponentially decaying current per port (``ex``, ``in``):

.. math::

    \frac{dV}{dt} = -\frac{V}{τ_m} + \frac{I_{ex} + I_{in} + I_e + I_{stim}}{C_m}, \qquad
    \frac{dI}{dt} = -\frac{I}{τ_s}

A spike of weight ``w`` (pA) makes ``I`` jump by ``w``. Integrated exactly with the
propagators ``P11 = e^{−h/τ_s}``, ``P22 = e^{−h/τ_m}``, ``P20 = τ_m/C_m·(1 − P22)`` and
``P21`` from NEST's ``IAFPropagatorExp`` (:mod:`.iaf_propagator`, with the ``τ_m == τ_s``
limit), computed once in float64 on the host.

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Not refractory: ``V ← V·P22 + I_ex·P21_ex + I_in·P21_in + (I_e + I_stim)·P20``;
   refractory: the count goes down by one, ``V`` is held.
2. ``I_ex ← I_ex·P11_ex``, ``I_in ← I_in·P11_in``; then the spikes delivered in this step are
   added: ``I ← I + W``.
3. ``V ≥ V_th − E_L`` (tested also while refractory, as NEST): spike at ``(m+1)·h``,
   ``V ← V_reset − E_L``, refractory for ``t_ref`` rounded to tics and up to steps.
4. ``I_stim ← x``: the current given with this step drives the next one.

Ports: ``receptor_0`` is NEST's excitatory current, ``receptor_1`` the inhibitory one (NEST
routes by the sign of the weight; here the label routes and the weight keeps its sign, so
PyNN's negative inhibitory weights on ``receptor_1`` act as in NEST). Not modelled: NEST's
stochastic threshold (``delta``, ``rho``; deterministic by default) and the filtered current
on receptor 1 of NEST's current port.

Mirrors NEST 3.10's ``iaf_psc_exp``.
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import host_exp
from ._base import refractory_counts
from ._iaf_base import IAFBase
from .iaf_propagator import propagator_exp

__all__ = ["iaf_psc_exp"]


class iaf_psc_exp(IAFBase):
    r"""LIF neuron with exponential PSCs on two ports (NEST ``iaf_psc_exp``).

    Parameters (NEST names; quantities or plain numbers in these units; scalars or per-neuron
    arrays): E_L (mV, −70), C_m (pF, 250), tau_m (ms, 10), t_ref (ms, 2), V_th (mV, −55),
    V_reset (mV, −70), tau_syn_ex (ms, 2), tau_syn_in (ms, 2), I_e (pA, 0).
    V_initializer: initial V_m (absolute mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')``, ``w`` in pA
    (signed); ``update(x)``, ``x`` in pA acting on the next step.
    Recordables: ``V_m``, ``I_syn_ex``, ``I_syn_in`` (pA), ``I``.
    """

    NEST_NAME = "iaf_psc_exp"
    PARAMETERS = {
        "E_L": (-70.0, u.mV), "C_m": (250.0, u.pF), "tau_m": (10.0, u.ms),
        "t_ref": (2.0, u.ms), "V_th": (-55.0, u.mV), "V_reset": (-70.0, u.mV),
        "tau_syn_ex": (2.0, u.ms), "tau_syn_in": (2.0, u.ms), "I_e": (0.0, u.pA),
    }
    DELTA_UNIT = u.pA
    RECORDABLES = ("V_m", "I_syn_ex", "I_syn_in")
    V_RELATIVE = True

    def __init__(self, in_size, E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                 V_reset=-70.0, tau_syn_ex=2.0, tau_syn_in=2.0, I_e=0.0,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, E_L=E_L, C_m=C_m,
                         tau_m=tau_m, t_ref=t_ref, V_th=V_th, V_reset=V_reset,
                         tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, I_e=I_e)

    @classmethod
    def _check(cls, p):
        cls._require(p["V_reset"] >= p["V_th"], "V_reset",
                     "Reset potential must be smaller than threshold.", p["V_reset"])
        cls._require(~(p["C_m"] > 0), "C_m", "Capacitance must be strictly positive.",
                     p["C_m"])
        for k in ("tau_m", "tau_syn_ex", "tau_syn_in"):
            cls._require(~(p[k] > 0), k,
                         "Membrane and synapse time constants must be strictly positive.", p[k])
        cls._require(p["t_ref"] < 0, "t_ref", "Refractory time must not be negative.",
                     p["t_ref"])

    def constants(self, dt: float):
        p, h = self.params, dt
        P22 = host_exp(-h / p["tau_m"])
        c = {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
             "V_reset": p["V_reset"] - p["E_L"], "ref_count": refractory_counts(p["t_ref"], h),
             "P22": P22, "P20": p["tau_m"] / p["C_m"] * (1.0 - P22),
             "P11_ex": host_exp(-h / p["tau_syn_ex"]), "P11_in": host_exp(-h / p["tau_syn_in"]),
             "P21_ex": propagator_exp(p["tau_syn_ex"], p["tau_m"], p["C_m"], h),
             "P21_in": propagator_exp(p["tau_syn_in"], p["tau_m"], p["C_m"], h)}
        return c

    def _make_states(self, shape, dtype):
        self.I_ex = brainstate.HiddenState(jnp.zeros(shape, dtype))
        self.I_in = brainstate.HiddenState(jnp.zeros(shape, dtype))

    def _state_map(self):
        return {"I_syn_ex": (self.I_ex, None), "I_syn_in": (self.I_in, None)}

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        flat = lambda st: st.value.reshape(n)
        V, r = flat(self.V_state), flat(self.refractory_step_count)
        I_ex, I_in, i_0 = flat(self.I_ex), flat(self.I_in), flat(self.I_stim)
        refractory = r > 0

        # 1. membrane potential (held while refractory)
        V_new = (V * c["P22"] + I_ex * c["P21_ex"] + I_in * c["P21_in"]
                 + (c["I_e"] + i_0) * c["P20"])
        V = jnp.where(refractory, V, V_new)
        r = r - refractory.astype(r.dtype)

        # 2. decay, then the spikes delivered in this step
        w_ex, w_in = self._port_inputs(n)
        I_ex = I_ex * c["P11_ex"] + w_ex
        I_in = I_in * c["P11_in"] + w_in

        # 3. threshold
        spike = V >= c["Theta"]
        r = jnp.where(spike, c["ref_count"], r)
        V = jnp.where(spike, c["V_reset"], V)

        # 4. buffer the current for the next step
        I_next = self._next_current(x, n)

        self.V_state.value = V.reshape(shape)
        self.refractory_step_count.value = r.reshape(shape)
        self.I_ex.value, self.I_in.value = I_ex.reshape(shape), I_in.reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        return spike.reshape(shape).astype(self._dtype())
