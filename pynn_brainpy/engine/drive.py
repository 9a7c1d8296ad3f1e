"""Drive a single brainstate model with precomputed per-step inputs, recording as it goes.

This is the smallest useful runner: no network, no delays. It serves model tests, benchmarks
and examples that use a model without the PyNN layer. The model must offer ``add_delta_input``,
``update(x)`` and ``recordable(name)``.
"""

from typing import Dict, Optional, Sequence

import brainstate
import jax.numpy as jnp
import numpy as np

__all__ = ["run_model"]


def run_model(model, n_steps: int, *, delta: Optional[Dict[str, np.ndarray]] = None,
              current: Optional[np.ndarray] = None, record: Sequence[str] = (),
              events: Optional[tuple] = None):
    """Run ``n_steps`` updates of an initialised ``model`` under the current brainstate dt.

    Parameters
    ----------
    delta : dict label -> array (n_steps, *shape)
        Delta input given in each step (e.g. weights in nS for conductance ports); it takes
        effect at the end of that step.
    current : array (n_steps, *shape), optional
        External current given in each step (pA); it drives the following step.
    record : names passed to ``model.recordable``, sampled after every step.
    events : (offsets, weights), arrays (n_steps, N, K), optional
        Input events inside each step for models with precise spike times
        (``add_precise_input``): offsets in ms before the step's end, NaN for none.

    Returns
    -------
    dict with ``'spikes'`` (n_steps, *shape) bool and one (n_steps, *shape) array per name.
    """
    delta = {k: jnp.asarray(v) for k, v in (delta or {}).items()}
    xs = {"delta": delta}
    if current is not None:
        xs["current"] = jnp.asarray(current)
    if events is not None:
        xs["events"] = tuple(jnp.asarray(a) for a in events)

    def step(inp):
        for label, w in inp["delta"].items():
            model.add_delta_input(f"drive:{label}", w, label=label)
        if "events" in inp:
            model.add_precise_input("drive", *inp["events"])
        spk = model.update(inp.get("current", 0.0))
        return {"spikes": spk > 0, **{n: model.recordable(n) for n in record}}

    @brainstate.transform.jit
    def run(xs):
        return brainstate.transform.for_loop(step, xs, length=n_steps)

    out = run(xs)
    return {k: np.asarray(v) for k, v in out.items()}
