r"""NEST's ``iaf_cond_exp``: leaky integrate-and-fire with exponential conductances.

.. math::

    C_m \frac{dV}{dt} = -g_L (V' − E_L) − g_{ex}(V' − E_{ex}) − g_{in}(V' − E_{in})
                        + I_{stim} + I_e, \qquad
    \frac{dg}{dt} = -\frac{g}{τ_s}

where ``V' = min(V, V_th)`` (NEST bounds the potential seen by the currents at the threshold);
while refractory ``dV/dt = 0`` and ``V' = V_reset``. A spike of weight ``w`` (nS) makes ``g``
jump by ``w``. ``(V, g_ex, g_in)`` are integrated with GSL's adaptive RKF45 exactly as NEST does
(:mod:`pynn_brainpy.engine.rkf45`: absolute tolerance 1e-3, per-neuron sub-step carried
across steps).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Integrate ``(V, g_ex, g_in)`` over ``h`` with ``I_stim`` and the refractory flag (count
   > 0 at the start of the step) held constant.
2. Spikes delivered in this step: ``g_ex ← g_ex + W_ex``, ``g_in ← g_in + W_in``.
3. Refractory: the count goes down by one and ``V ← V_reset``. Otherwise ``V ≥ V_th`` is a
   spike at ``(m+1)·h``: ``V ← V_reset``, refractory for ``t_ref`` (tic-rounded, up to steps).
4. ``I_stim ← x``: the current given with this step drives the next one.

Ports: ``receptor_0`` excitatory, ``receptor_1`` inhibitory, weights in nS (>= 0; NEST takes
inhibitory weights negative and flips their sign, PyNN gives them positive).
Mirrors NEST 3.10's ``iaf_cond_exp``.
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import on_device, refractory_counts
from ._iaf_base import IAFCondBase

__all__ = ["iaf_cond_exp", "COND_PARAMETERS", "check_cond_parameters"]

#: Parameters shared by NEST's iaf_cond_alpha and iaf_cond_exp (NEST's defaults).
COND_PARAMETERS = {
    "V_th": (-55.0, u.mV), "V_reset": (-60.0, u.mV), "t_ref": (2.0, u.ms),
    "g_L": (16.6667, u.nS), "C_m": (250.0, u.pF), "E_ex": (0.0, u.mV), "E_in": (-85.0, u.mV),
    "E_L": (-70.0, u.mV), "tau_syn_ex": (0.2, u.ms), "tau_syn_in": (2.0, u.ms),
    "I_e": (0.0, u.pA),
}


def check_cond_parameters(cls, p, time_constants=("tau_syn_ex", "tau_syn_in")):
    """NEST's checks of the iaf_cond_* family, in NEST's order and words."""
    cls._require(p["V_reset"] >= p["V_th"], "V_reset",
                 "Reset potential must be smaller than threshold.", p["V_reset"])
    cls._require(~(p["C_m"] > 0), "C_m", "Capacitance must be strictly positive.", p["C_m"])
    cls._require(p["t_ref"] < 0, "t_ref", "Refractory time cannot be negative.", p["t_ref"])
    for k in time_constants:
        cls._require(~(p[k] > 0), k, "All time constants must be strictly positive.", p[k])


def cond_constants(p, dt):
    return {"V_th": p["V_th"], "V_reset": p["V_reset"], "E_L": p["E_L"], "E_ex": p["E_ex"],
            "E_in": p["E_in"], "g_L": p["g_L"], "C_m": p["C_m"], "I_e": p["I_e"],
            "tau_ex": p["tau_syn_ex"], "tau_in": p["tau_syn_in"],
            "ref_count": refractory_counts(p["t_ref"], dt)}


class iaf_cond_exp(IAFCondBase):
    r"""LIF neuron with exponential conductances on two ports (NEST ``iaf_cond_exp``).

    Parameters (NEST names; quantities or plain numbers in these units; scalars or per-neuron
    arrays): V_th (mV, −55), V_reset (mV, −60), t_ref (ms, 2), g_L (nS, 16.6667),
    C_m (pF, 250), E_ex (mV, 0), E_in (mV, −85), E_L (mV, −70), tau_syn_ex (ms, 0.2),
    tau_syn_in (ms, 2), I_e (pA, 0). V_initializer: initial V_m (mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')``, ``w`` in nS;
    ``update(x)``, ``x`` in pA acting on the next step.
    Recordables: ``V_m``, ``g_ex``, ``g_in`` (nS), ``I``.
    """

    NEST_NAME = "iaf_cond_exp"
    PARAMETERS = dict(COND_PARAMETERS)
    RECORDABLES = ("V_m", "g_ex", "g_in")
    LINEAR = (("exp", "tau_ex"), ("exp", "tau_in"))
    JUMP_FACTORS = (None, None)
    NATIVE_DV = ("(-({g_L} * (vb - {E_L})) + istim + {I_e} - g0 * (vb - {E_ex})"
                 " - g1 * (vb - {E_in})) / {C_m}")

    def __init__(self, in_size, V_th=-55.0, V_reset=-60.0, t_ref=2.0, g_L=16.6667, C_m=250.0,
                 E_ex=0.0, E_in=-85.0, E_L=-70.0, tau_syn_ex=0.2, tau_syn_in=2.0, I_e=0.0,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, V_th=V_th,
                         V_reset=V_reset, t_ref=t_ref, g_L=g_L, C_m=C_m, E_ex=E_ex, E_in=E_in,
                         E_L=E_L, tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, I_e=I_e)

    @classmethod
    def _check(cls, p):
        check_cond_parameters(cls, p)

    def constants(self, dt: float):
        return cond_constants(self.params, dt)

    def _make_states(self, shape, dtype):
        self.g_ex = brainstate.HiddenState(on_device(np.zeros(shape), dtype))
        self.g_in = brainstate.HiddenState(on_device(np.zeros(shape), dtype))

    def _state_map(self):
        return {"g_ex": (self.g_ex, None), "g_in": (self.g_in, None)}

    def _conductance_states(self):
        return self.g_ex, self.g_in

    @staticmethod
    def _dV_free(y, c):
        """NEST's ``iaf_cond_exp_dynamics`` for dV/dt outside refractoriness (same
        arithmetic order)."""
        V, g_ex, g_in = y
        Vb = jnp.minimum(V, c["V_th"])
        I_syn_exc = g_ex * (Vb - c["E_ex"])
        I_syn_inh = g_in * (Vb - c["E_in"])
        I_L = c["g_L"] * (Vb - c["E_L"])
        return (-I_L + c["I_stim"] + c["I_e"] - I_syn_exc - I_syn_inh) / c["C_m"]

    @classmethod
    def _rhs(cls, y, c):
        """NEST's ``iaf_cond_exp_dynamics``; while refractory dV/dt = 0 (the currents NEST
        evaluates at V_reset then only enter that zeroed derivative)."""
        _, g_ex, g_in = y
        dV = jnp.where(c["refractory"], 0.0, cls._dV_free(y, c))
        return dV, -g_ex / c["tau_ex"], -g_in / c["tau_in"]
