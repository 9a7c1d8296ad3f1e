r"""NEST's ``iaf_cond_alpha``: leaky integrate-and-fire with alpha-shaped conductances.

.. math::

    C_m \frac{dV}{dt} = -g_L (V' − E_L) − g_{ex}(V' − E_{ex}) − g_{in}(V' − E_{in})
                        + I_{stim} + I_e, \qquad
    \frac{d\,dg}{dt} = -\frac{dg}{τ_s}, \quad \frac{dg}{dt} = dg − \frac{g}{τ_s}

where ``V' = min(V, V_th)``; while refractory ``dV/dt = 0`` and ``V' = V_reset``. A spike of
weight ``w`` (nS) adds ``w·e/τ_s`` to ``dg``, so ``g`` peaks at ``w`` ``τ_s`` after it.
``(V, dg_ex, g_ex, dg_in, g_in)`` are integrated with GSL's adaptive RKF45 as NEST does
(absolute tolerance 1e-3, per-neuron sub-step carried across steps).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Integrate over ``h`` with ``I_stim`` and the refractory flag held constant.
2. Refractory: the count goes down by one and ``V ← V_reset``. Otherwise ``V ≥ V_th`` is a
   spike at ``(m+1)·h``: ``V ← V_reset``, refractory for ``t_ref`` (tic-rounded, up to steps).
3. Spikes delivered in this step: ``dg ← dg + W·e/τ_s`` per port.
4. ``I_stim ← x``: the current given with this step drives the next one.

Ports: ``receptor_0`` excitatory, ``receptor_1`` inhibitory, weights in nS (>= 0).
Mirrors NEST 3.10's ``iaf_cond_alpha``.
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np

from ._base import on_device
from ._iaf_base import IAFCondBase
from .iaf_cond_exp import COND_PARAMETERS, check_cond_parameters, cond_constants

__all__ = ["iaf_cond_alpha"]


class iaf_cond_alpha(IAFCondBase):
    r"""LIF neuron with alpha-shaped conductances on two ports (NEST ``iaf_cond_alpha``).

    Parameters (NEST names and defaults, as :class:`~.iaf_cond_exp.iaf_cond_exp`): V_th (mV,
    −55), V_reset (mV, −60), t_ref (ms, 2), g_L (nS, 16.6667), C_m (pF, 250), E_ex (mV, 0),
    E_in (mV, −85), E_L (mV, −70), tau_syn_ex (ms, 0.2), tau_syn_in (ms, 2), I_e (pA, 0).
    V_initializer: initial V_m (mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')``, ``w`` in nS;
    ``update(x)``, ``x`` in pA acting on the next step.
    Recordables: ``V_m``, ``g_ex``, ``g_in``, ``dg_ex``, ``dg_in`` (nS, nS/ms), ``I``.
    """

    NEST_NAME = "iaf_cond_alpha"
    PARAMETERS = dict(COND_PARAMETERS)
    RECORDABLES = ("V_m", "g_ex", "g_in", "dg_ex", "dg_in")
    LINEAR = (("alpha", "tau_ex"), ("alpha", "tau_in"))
    JUMP_FACTORS = ("init_ex", "init_in")
    NATIVE_DV = ("(-({g_L} * (vb - {E_L})) - g0 * (vb - {E_ex}) - g1 * (vb - {E_in})"
                 " + istim + {I_e}) / {C_m}")

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
        c = cond_constants(self.params, dt)
        c["init_ex"] = 1.0 * np.e / self.params["tau_syn_ex"]
        c["init_in"] = 1.0 * np.e / self.params["tau_syn_in"]
        return c

    def _make_states(self, shape, dtype):
        zeros = lambda: brainstate.HiddenState(on_device(np.zeros(shape), dtype))
        self.dg_ex, self.g_ex, self.dg_in, self.g_in = zeros(), zeros(), zeros(), zeros()

    def _state_map(self):
        return {"g_ex": (self.g_ex, None), "g_in": (self.g_in, None),
                "dg_ex": (self.dg_ex, None), "dg_in": (self.dg_in, None)}

    def _conductance_states(self):
        return self.dg_ex, self.g_ex, self.dg_in, self.g_in

    @staticmethod
    def _dV_free(y, c):
        """NEST's ``iaf_cond_alpha_dynamics`` for dV/dt outside refractoriness (same
        arithmetic order)."""
        V, _, g_ex, _, g_in = y
        Vb = jnp.minimum(V, c["V_th"])
        I_syn_exc = g_ex * (Vb - c["E_ex"])
        I_syn_inh = g_in * (Vb - c["E_in"])
        I_leak = c["g_L"] * (Vb - c["E_L"])
        return (-I_leak - I_syn_exc - I_syn_inh + c["I_stim"] + c["I_e"]) / c["C_m"]

    @classmethod
    def _rhs(cls, y, c):
        """NEST's ``iaf_cond_alpha_dynamics``; while refractory dV/dt = 0 (the currents NEST
        evaluates at V_reset then only enter that zeroed derivative)."""
        _, dg_ex, g_ex, dg_in, g_in = y
        dV = jnp.where(c["refractory"], 0.0, cls._dV_free(y, c))
        return (dV, -dg_ex / c["tau_ex"], dg_ex - (g_ex / c["tau_ex"]),
                -dg_in / c["tau_in"], dg_in - (g_in / c["tau_in"]))
