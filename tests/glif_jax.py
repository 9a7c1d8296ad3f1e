"""Run a ``glif_scenarios`` scenario through pynn_brainpy's glif_cond model.

Events are fed with NEST's timing (spec §8): a spike at ``t`` over delay ``d`` is a delta input
in step ``(t + d)/dt − 1``; a current on ``[start, stop)`` is given in the steps whose effect
interval is ``(start + d, stop + d]`` (NEST cannot start a current before ``d + dt``).
"""

import brainstate
import numpy as np

from pynn_brainpy.engine.drive import run_model
from pynn_brainpy.models.glif_cond import glif_cond

#: NEST glif_cond parameter name -> glif_cond keyword
_NAMES = {"g_m": "g"}


def model_kwargs(nest_params: dict, asc_state=None) -> dict:
    """Keyword arguments of ``glif_cond`` equivalent to NEST parameters (+ ASCurrents state)."""
    kw = {_NAMES.get(k, k): v for k, v in nest_params.items() if k != "V_m"}
    n_asc = len(kw.get("asc_decay", (0.003, 0.1)))
    # NEST ignores asc_init; its after-spike currents start at the ASCurrents state.
    kw["asc_init"] = list(asc_state) if asc_state is not None else [0.0] * n_asc
    kw["V_initializer"] = nest_params.get("V_m", -78.85)
    return kw


def _stack(per_neuron: list) -> dict:
    """List of per-neuron keyword dicts -> one dict of per-neuron arrays (flags must agree)."""
    out = {}
    for key in per_neuron[0]:
        vals = [kw[key] for kw in per_neuron]
        if isinstance(vals[0], bool):
            assert all(v == vals[0] for v in vals), key
            out[key] = vals[0]
        else:
            out[key] = np.array(vals, dtype=float)
    return out


def run_jax_glif(params, n_neurons, dt, t_sim, spikes=(), currents=(), delay=1.0,
                 asc_state=None, record=("V_m",), precision=64):
    if isinstance(params, dict):
        params = [params] * n_neurons
    states = asc_state if (asc_state is not None and np.ndim(asc_state) == 2) else \
        [asc_state] * n_neurons
    kw = _stack([model_kwargs(p, s) for p, s in zip(params, states)])
    n_steps = int(round(t_sim / dt))
    n_ports = len(kw.get("tau_syn", (0.2, 2.0)) if np.ndim(kw.get("tau_syn", 0)) < 2
                  else kw["tau_syn"][0])
    delta = {f"receptor_{k}": np.zeros((n_steps, n_neurons)) for k in range(n_ports)}
    for i, port, t, w in spikes:
        step = int(round((t + delay) / dt)) - 1
        if step < n_steps:
            delta[f"receptor_{port - 1}"][step, i] += w
    current = np.zeros((n_steps, n_neurons))
    for i, start, stop, amp in currents:
        first = max(int(round((start + delay) / dt)) - 1, int(round(delay / dt)))
        last = int(round((stop + delay) / dt)) - 2
        current[first:last + 1, i] += amp
    with brainstate.environ.context(precision=precision, dt=dt):
        model = glif_cond(n_neurons, **kw)
        model.init_state()
        out = run_model(model, n_steps, delta=delta, current=current, record=record)
    out["times"] = (np.arange(n_steps) + 1) * dt
    out["spike_steps"] = [np.flatnonzero(out["spikes"][:, i]) for i in range(n_neurons)]
    return out
