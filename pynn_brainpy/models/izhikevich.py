r"""NEST's ``izhikevich``: the Izhikevich (2003) quadratic integrate-and-fire neuron with
delta (voltage-jump) synapses.

.. math::

    \frac{dv}{dt} = 0.04 v^2 + 5 v + 140 - u + I + I_e, \qquad
    \frac{du}{dt} = a (b v - u)

    v \ge V_{th}: \quad v \leftarrow c,\; u \leftarrow u + d

``v`` is in mV, ``u`` and the currents in "pA" as NEST treats them (numerically mV/ms). A spike
of weight ``W`` (mV) makes ``v`` jump by ``W``.

Per-step order (step ``m`` covers ``(m·h, (m+1)·h]``; ``W`` is the sum of the weights
delivered in this step, on either port):

1. ``consistent_integration`` (NEST's default): forward Euler from the old values,
   ``v ← v + h(0.04 v² + 5v + 140 − u + I + I_e) + W``, ``u ← u + h·a(b·v_old − u_old)``.
   Otherwise Izhikevich's published scheme: two half steps for ``v`` (each
   ``v ← v + (h/2)(0.04 v² + 5v + 140 − u + I + I_e + W)``) and then
   ``u ← u + h·a(b·v − u)`` with the new ``v`` (NEST recommends it only for h = 1 ms).
2. ``v ← max(v, V_min)``.
3. If ``v ≥ V_th``: spike at ``(m+1)·h``; ``v ← c``, ``u ← u + d``. No refractory period.
4. ``I ← x`` (the current given to this step drives the next one).

Mirrors NEST's ``izhikevich`` (same arithmetic order; float64 results agree to the last
bits). There is no parameter check in NEST; here non-finite values are refused (``V_min``
may be −inf, meaning "no lower bound", NEST's default ``-DBL_MAX``).
"""

from typing import Optional

import jax.numpy as jnp
import numpy as np
import saiunit as u

from .aeif_cond import ScalarModel

__all__ = ["izhikevich"]


class izhikevich(ScalarModel):
    r"""Izhikevich neuron (NEST ``izhikevich``); see the module docstring.

    Parameters (NEST's names and defaults): ``a`` 0.02 (1/ms), ``b`` 0.2 (1/ms), ``c`` −65 mV,
    ``d`` 8 (pA), ``I_e`` 0 pA, ``V_th`` 30 mV, ``V_min`` −DBL_MAX mV,
    ``consistent_integration`` True (one flag for the whole population).

    Initial state: ``V_m = −65``, ``U_m = b·V_m`` (NEST's −13 for the defaults); set with
    ``set_state_value('V_m'|'U_m', values)``. Inputs: ``add_delta_input(key, W_mV,
    label='receptor_0'|'receptor_1')`` (both ports add ``W`` to ``v``); ``update(x)`` with
    ``x`` in pA. Recordables: ``V_m``, ``U_m``, ``I``.
    """

    nest_name = "izhikevich"
    defaults = {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0, "I_e": 0.0, "V_th": 30.0,
                "V_min": -np.finfo(np.float64).max}
    param_units = {"a": 1 / u.ms, "b": 1 / u.ms, "c": u.mV, "d": u.pA, "I_e": u.pA,
                   "V_th": u.mV, "V_min": u.mV}
    recordables = {"V_m": "V", "U_m": "U"}
    settable = ("V_m", "U_m")

    def __init__(self, in_size, consistent_integration: bool = True,
                 name: Optional[str] = None, **params):
        self.consistent_integration = bool(consistent_integration)
        super().__init__(in_size, name=name, **params)

    @classmethod
    def check(cls, p):
        bad = np.isnan(p["V_min"]) | (p["V_min"] == np.inf)
        if bad.any():
            cls._fail(cls.nest_name, "V_min", "must be a number below V_th.", p["V_min"][bad])

    def set_parameters(self, **values):
        if "consistent_integration" in values:
            self.consistent_integration = bool(values.pop("consistent_integration"))
        super().set_parameters(**values)

    def static_signature(self):
        return (self.consistent_integration,)

    def constants(self, p, dt):
        return {k: p[k] for k in self.defaults}

    def _make_state(self, c, shape, dtype):
        V = np.full(shape, -65.0)
        b = np.broadcast_to(c["b"], (V.size,)).reshape(shape)
        return {"V": jnp.asarray(V, dtype), "U": jnp.asarray(b * V, dtype)}

    def update(self, x=0.0):
        """Advance one step of ``dt`` with external current ``x`` (pA, used next step)."""
        n, c, dtype = self._begin_update()
        h = self.dt
        v = self.state["V"].value.reshape(n)
        U = self.state["U"].value.reshape(n)
        I = self.I_stim.value.reshape(n)
        Ws = self._deltas(n, dtype)
        W = 0.0 if Ws is None else Ws[0] + Ws[1]
        if self.consistent_integration:
            v_old, u_old = v, U
            v = v + (h * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old + I + c["I_e"])
                     + W)
            U = U + h * c["a"] * (c["b"] * v_old - u_old)
        else:
            for _ in range(2):
                v = v + h * 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - U + I + c["I_e"] + W)
            U = U + h * c["a"] * (c["b"] * v - U)
        v = jnp.where(v < c["V_min"], c["V_min"], v)
        spike = v >= c["V_th"]
        v = jnp.where(spike, c["c"], v)
        U = jnp.where(spike, U + c["d"], U)
        self.I_stim.value = self._next_current(x, n, dtype).reshape(self.varshape)
        self._store({"V": v, "U": U})
        return self._emit(spike, n, dtype)
