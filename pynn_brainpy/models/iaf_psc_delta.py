r"""NEST's ``iaf_psc_delta``: leaky integrate-and-fire whose input spikes step the potential.

With ``V = V_m − E_L``:

.. math::

    \frac{dV}{dt} = -\frac{V}{τ_m} + \frac{I_e + I_{stim}}{C_m} + \sum_k w_k δ(t − t_k)

A spike of weight ``w`` (mV) changes ``V`` by ``w`` at once. Integrated exactly with
``P33 = e^{−h/τ_m}`` and ``P30 = (1 − P33)·τ_m/C_m`` (float64, host).

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``), as NEST's ``update``:

1. Not refractory: ``V ← P30(I_stim + I_e) + P33·V + W`` with ``W`` the weights delivered in
   this step (so an input can make the neuron fire in the step it arrives); with
   ``refractory_input`` the input collected while refractory is added too and cleared;
   ``V ← max(V, V_min − E_L)``.
   Refractory: with ``refractory_input``, ``B ← B + W·exp(−r·h/τ_m)`` (``r`` the count
   before this step's decrement), otherwise ``W`` is dropped; the count goes down by one.
2. ``V ≥ V_th − E_L`` (tested also while refractory, as NEST): spike at ``(m+1)·h``,
   ``V ← V_reset − E_L``, refractory for ``t_ref`` rounded to tics and up to steps.
3. ``I_stim ← x``: the current given with this step drives the next one.

Both labels ``receptor_0`` and ``receptor_1`` add their (signed) weights to ``V``; NEST has a
single port. Mirrors NEST 3.10's ``iaf_psc_delta``.
"""

from typing import Optional

import brainstate
import jax.numpy as jnp
import numpy as np
import saiunit as u

from ._base import host_exp
from ._base import refractory_counts
from ._iaf_base import IAFBase

__all__ = ["iaf_psc_delta"]


class iaf_psc_delta(IAFBase):
    r"""LIF neuron with delta-shaped PSPs (NEST ``iaf_psc_delta``).

    Parameters (NEST names; quantities or plain numbers in these units; scalars or per-neuron
    arrays): E_L (mV, −70), C_m (pF, 250), tau_m (ms, 10), t_ref (ms, 2), V_th (mV, −55),
    V_reset (mV, −70), I_e (pA, 0), V_min (mV, −inf), and the flag ``refractory_input``
    (default False: input arriving while refractory is discarded).
    V_initializer: initial V_m (absolute mV), default E_L.

    Inputs: ``add_delta_input(key, w, label='receptor_0' | 'receptor_1')`` with ``w`` in mV;
    ``update(x)``, ``x`` in pA acting on the next step. Recordables: ``V_m``, ``I``.
    """

    NEST_NAME = "iaf_psc_delta"
    PARAMETERS = {
        "E_L": (-70.0, u.mV), "C_m": (250.0, u.pF), "tau_m": (10.0, u.ms),
        "t_ref": (2.0, u.ms), "V_th": (-55.0, u.mV), "V_reset": (-70.0, u.mV),
        "I_e": (0.0, u.pA), "V_min": (-np.inf, u.mV),
    }
    FLAGS = {"refractory_input": False}
    MAY_BE_INFINITE = ("V_min",)
    DELTA_UNIT = u.mV
    RECORDABLES = ("V_m",)
    V_RELATIVE = True

    def __init__(self, in_size, E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                 V_reset=-70.0, I_e=0.0, V_min=-np.inf, refractory_input=False,
                 V_initializer=None, name: Optional[str] = None):
        super().__init__(in_size, V_initializer=V_initializer, name=name, E_L=E_L, C_m=C_m,
                         tau_m=tau_m, t_ref=t_ref, V_th=V_th, V_reset=V_reset, I_e=I_e,
                         V_min=V_min, refractory_input=refractory_input)

    @classmethod
    def _check(cls, p):
        cls._require(p["V_reset"] >= p["V_th"], "V_reset",
                     "Reset potential must be smaller than threshold.", p["V_reset"])
        cls._require(~(p["C_m"] > 0), "C_m", "Capacitance must be > 0.", p["C_m"])
        cls._require(p["t_ref"] < 0, "t_ref", "Refractory time must not be negative.",
                     p["t_ref"])
        cls._require(~(p["tau_m"] > 0), "tau_m", "Membrane time constant must be > 0.",
                     p["tau_m"])

    def constants(self, dt: float):
        p, h = self.params, dt
        P33 = host_exp(-h / p["tau_m"])
        return {"E_L": p["E_L"], "I_e": p["I_e"], "Theta": p["V_th"] - p["E_L"],
                "V_reset": p["V_reset"] - p["E_L"], "V_min": p["V_min"] - p["E_L"],
                "ref_count": refractory_counts(p["t_ref"], h), "P33": P33,
                "P30": 1 / p["C_m"] * (1 - P33) * p["tau_m"], "tau_m": p["tau_m"]}

    def _make_states(self, shape, dtype):
        self.refr_spikes_buffer = brainstate.HiddenState(jnp.zeros(shape, dtype))

    def update(self, x=0.0):
        """Advance one step with external current ``x`` (pA, acting on the next step)."""
        self._begin_update()
        n = int(np.prod(self.varshape))
        shape = self.varshape
        c = self.consts.value
        h = self.dt
        flat = lambda st: st.value.reshape(n)
        y3, r, y0 = flat(self.V_state), flat(self.refractory_step_count), flat(self.I_stim)
        buf = flat(self.refr_spikes_buffer)
        w_ex, w_in = self._port_inputs(n)
        W = w_ex + w_in
        refractory = r > 0

        # 1. membrane potential with this step's input (or collect it while refractory)
        y_new = c["P30"] * (y0 + c["I_e"]) + c["P33"] * y3 + W
        if self.flags["refractory_input"]:
            y_new = y_new + buf
            decay = jnp.exp(-r.astype(y3.dtype) * h / c["tau_m"])
            buf = jnp.where(refractory, buf + W * decay, jnp.zeros_like(buf))
        y_new = jnp.where(y_new < c["V_min"], c["V_min"], y_new)
        y3 = jnp.where(refractory, y3, y_new)
        r = r - refractory.astype(r.dtype)

        # 2. threshold
        spike = y3 >= c["Theta"]
        r = jnp.where(spike, c["ref_count"], r)
        y3 = jnp.where(spike, c["V_reset"], y3)

        # 3. buffer the current for the next step
        I_next = self._next_current(x, n)

        self.V_state.value = y3.reshape(shape)
        self.refractory_step_count.value = r.reshape(shape)
        self.refr_spikes_buffer.value = buf.reshape(shape)
        self.I_stim.value = I_next.reshape(shape)
        return spike.reshape(shape).astype(self._dtype())
