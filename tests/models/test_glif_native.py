"""The native quiet step of glif_cond (CPU) against the XLA step it stands in for."""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.models import _glif_native
from pynn_brainpy.models.glif_cond import _EPS_ABS, glif_cond

pytestmark = pytest.mark.skipif(not _glif_native.available(np.float64),
                                reason="no native step on this platform")

FLAGS = {1: (False, False, False), 2: (True, False, False), 3: (False, True, False),
         4: (True, True, False), 5: (True, True, True)}


def _model(variant, ports, heterogeneous, rng, n=203):
    R, ASC, A = FLAGS[variant]
    per = lambda lo, hi: rng.uniform(lo, hi, n) if heterogeneous else (lo + hi) / 2
    kw = dict(g=per(5.0, 15.0), C_m=per(40.0, 80.0), t_ref=per(1.0, 3.0),
              tau_syn=(rng.uniform(0.2, 5.0, (n, ports)) if heterogeneous
                       else list(rng.uniform(0.2, 5.0, ports))),
              E_rev=(rng.uniform(-80.0, 0.0, (n, ports)) if heterogeneous
                     else list(rng.uniform(-80.0, 0.0, ports))),
              spike_dependent_threshold=R, after_spike_currents=ASC, adapting_threshold=A)
    model = glif_cond(n, **kw)
    model.init_state()
    return model


def _state(model, rng, quiet=True):
    """A random mid-simulation state: some neurons refractory, some about to spike."""
    n, dtype = model.varshape[0], model.V_rel.value.dtype
    ports, n_asc = model.n_receptors, model.n_asc
    arr = lambda x: jnp.asarray(x, dtype)
    return {"V": arr(rng.uniform(-5.0, 30.0, n)), "dg": arr(rng.uniform(0, 0.5, (ports, n))),
            "g": arr(rng.uniform(0, 2.0, (ports, n))), "I": arr(rng.uniform(0, 300.0, n)),
            "asc": arr(rng.uniform(-20.0, 20.0, (n_asc, n))),
            "asc_sum": arr(rng.uniform(-20.0, 20.0, n)), "th_s": arr(rng.uniform(0, 2.0, n)),
            "th_v": arr(rng.uniform(-1.0, 1.0, n)),
            "refr": jnp.asarray(rng.integers(-2, 3, n).clip(0), jnp.int32),
            "H": arr(np.full(n, 0.5) if quiet else rng.choice([0.5, 0.05], n)),
            "delta": arr(rng.uniform(0, 3.0, (ports, n))),
            "I_next": arr(rng.uniform(0, 300.0, n))}


def _both(model, state):
    c = model.consts.value
    native = jax.jit(lambda s: _glif_native.quiet_step(
        s, c, model.flags, model.n_receptors, model.n_asc, model.dt, _EPS_ABS))(state)
    xla = jax.jit(lambda s: model._step(s, c))(state)
    return native, xla


@pytest.mark.parametrize("precision", [64, 32])
@pytest.mark.parametrize("variant,ports,heterogeneous",
                         [(1, 1, False), (2, 2, True), (3, 3, False), (4, 1, True),
                          (5, 2, False), (5, 4, True)])
def test_quiet_step_equals_the_xla_step(variant, ports, heterogeneous, precision):
    brainstate.environ.set(precision=precision)
    rng = np.random.default_rng(variant * 10 + ports)
    with brainstate.environ.context(dt=0.1):
        model = _model(variant, ports, heterogeneous, rng)
        state = _state(model, rng)
        native, xla = _both(model, state)
    assert int(native["loud"]) == 0
    assert np.array_equal(native["spike"] > 0, xla["spike"])
    assert np.array_equal(native["refr"], xla["refr"])
    assert np.asarray(xla["spike"]).any() and np.asarray(state["refr"] > 0).any()
    # the same expressions; XLA fuses some multiply-adds, the native loop does not (in float32
    # that moves the adapting threshold's cancelling terms by up to ~1e-5)
    rtol = 1e-12 if precision == 64 else 1e-4
    for key in ("V", "dg", "g", "asc", "asc_sum", "th_s", "th_v", "H"):
        np.testing.assert_allclose(native[key], xla[key], rtol=rtol, atol=rtol, err_msg=key)
    np.testing.assert_array_equal(native["I"], state["I_next"])
    brainstate.environ.set(precision=64)


def test_the_loop_buffers_one_shared_next_current_or_one_per_neuron():
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(11)
    with brainstate.environ.context(dt=0.1):
        model = _model(5, 2, False, rng)
        state = _state(model, rng)
        shared, _ = _both(model, dict(state, I_next=jnp.asarray([42.0])))
        kept, _ = _both(model, dict(state, I_next=None))
    np.testing.assert_array_equal(shared["I"], 42.0)
    np.testing.assert_array_equal(kept["I"], state["I"])


def test_a_step_that_is_not_quiet_is_counted_marked_and_left_alone():
    """Neurons whose step is not quiet are counted and marked, keep their state and do not
    spike; the others get the XLA step's results."""
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(7)
    with brainstate.environ.context(dt=0.1):
        model = _model(5, 2, False, rng)
        state = _state(model, rng, quiet=False)       # some neurons carry a short H
        native, xla = _both(model, state)
        state_big = dict(state, H=jnp.full_like(state["H"], 0.5),
                         dg=state["dg"].at[1, 17].set(5e4))   # one neuron, a large error
        native_big, _ = _both(model, state_big)
    loud = np.asarray(native["loud_mask"]) > 0
    assert int(native["loud"]) == loud.sum() > 0
    np.testing.assert_array_equal(loud, np.asarray(state["H"]) <= 0.1)
    assert int(native_big["loud"]) == 1
    np.testing.assert_array_equal(np.flatnonzero(native_big["loud_mask"]), [17])
    assert not np.asarray(native["spike"])[loud].any()
    xla = dict(xla, I=state["I_next"])            # the buffered current: the next one
    for key in _glif_native.IN_PLACE:
        old, new, ref = (np.asarray(x[key]) for x in (state, native, xla))
        np.testing.assert_array_equal(new[..., loud], old[..., loud], err_msg=key)
        np.testing.assert_allclose(new[..., ~loud], ref[..., ~loud], rtol=1e-12, atol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("every", [1, 2])
def test_update_takes_the_xla_step_for_the_neurons_that_are_not_quiet(every):
    """Every neuron (``every`` = 1, as in the first step of a fresh model) or every second one
    starts with H = dt (not above it): their results are the XLA step's exactly, the
    others' the native loop's (= XLA's up to fused multiply-adds)."""
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(3 + every)
    with brainstate.environ.context(dt=0.1):
        model = _model(5, 2, True, rng)
        state = _state(model, rng)
        loud = np.arange(model.varshape[0]) % every == 0
        state["H"] = jnp.where(loud, 0.1, state["H"])
        model.V_rel.value, model.integration_step.value = state["V"], state["H"]
        model.refractory_step_count.value = state["refr"]
        xla = jax.jit(lambda s: model._step(s, model.consts.value))(dict(
            state, dg=model.dg_syn.value, g=model.g_syn.value, I=model.I_stim.value,
            asc=model.asc.value, asc_sum=model.asc_sum.value,
            th_s=model.threshold_spike.value, th_v=model.threshold_voltage.value,
            delta=None))
        spike = model.update(5.0)                  # buffered for the next step
    V, H = np.asarray(model.V_rel.value), np.asarray(model.integration_step.value)
    np.testing.assert_array_equal(model.I_stim.value, 5.0)    # loud neurons' too
    np.testing.assert_array_equal(V[loud], np.asarray(xla["V"])[loud])
    np.testing.assert_array_equal(H[loud], np.asarray(xla["H"])[loud])
    np.testing.assert_allclose(V[~loud], np.asarray(xla["V"])[~loud], rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(spike) > 0, np.asarray(xla["spike"]))


def _kwargs_slice(kw, lo, hi):
    return {k: (v[lo:hi] if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize("worker", [True, False])
def test_a_long_loop_runs_in_two_halves_with_the_results_of_whole_loops(worker):
    """From native_loop.SPLIT_FROM neurons the loop's second half is offered to the ring
    worker's thread (or run by the caller, with no thread to take it): every neuron's
    results are those of loops too short to be split, bit for bit, and the not-quiet
    neurons of both halves are counted."""
    from pynn_brainpy.engine import _ring_worker, native_loop
    brainstate.environ.set(precision=64)
    n, cut = native_loop.SPLIT_FROM + 300, native_loop.SPLIT_FROM - 100
    rng = np.random.default_rng(5)
    kw = dict(g=rng.uniform(5.0, 15.0, n), C_m=rng.uniform(40.0, 80.0, n),
              t_ref=rng.uniform(1.0, 3.0, n), tau_syn=rng.uniform(0.2, 5.0, (n, 2)),
              E_rev=rng.uniform(-80.0, 0.0, (n, 2)), spike_dependent_threshold=True,
              after_spike_currents=True, adapting_threshold=True)
    if not worker:
        _ring_worker._WORKER.stop()
    try:
        with brainstate.environ.context(dt=0.1):
            whole = glif_cond(n, **kw)
            whole.init_state()
            state = _state(whole, rng, quiet=False)   # loud neurons in both halves
            before = sum(_ring_worker.halves())
            split, _ = _both(whole, state)
            assert sum(_ring_worker.halves()) == before + 1
            parts = []
            for lo, hi in ((0, cut), (cut, n)):
                model = glif_cond(hi - lo, **_kwargs_slice(kw, lo, hi))
                model.init_state()
                sliced = {k: (v[..., lo:hi] if v.shape[-1] == n else v)
                          for k, v in state.items()}
                parts.append(_both(model, sliced)[0])
    finally:
        _ring_worker.start()
    if not worker:
        assert _ring_worker.halves()[1] >= 1
    assert int(split["loud"]) == int(parts[0]["loud"]) + int(parts[1]["loud"]) > 0
    for key in (*_glif_native.IN_PLACE, "spike", "loud_mask"):
        np.testing.assert_array_equal(
            split[key], np.concatenate([p[key] for p in parts], axis=-1), err_msg=key)
