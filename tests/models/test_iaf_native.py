"""The native quiet step of iaf_cond_exp and iaf_cond_alpha (CPU) against the XLA step it
stands in for."""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.models import _iaf_native
from pynn_brainpy.models.iaf_cond_alpha import iaf_cond_alpha
from pynn_brainpy.models.iaf_cond_exp import iaf_cond_exp
from pynn_brainpy.models.iaf_cond_exp_sfa_rr import iaf_cond_exp_sfa_rr

pytestmark = pytest.mark.skipif(not _iaf_native.available(np.float64),
                                reason="no native step on this platform")

MODELS = {"exp": iaf_cond_exp, "alpha": iaf_cond_alpha}


def _model(kind, heterogeneous, rng, n=211):
    per = lambda lo, hi: rng.uniform(lo, hi, n) if heterogeneous else (lo + hi) / 2
    model = MODELS[kind](n, g_L=per(10.0, 25.0), C_m=per(150.0, 300.0), t_ref=per(1.0, 3.0),
                         E_ex=per(-5.0, 5.0), E_in=per(-85.0, -75.0), tau_syn_ex=per(3.0, 6.0),
                         tau_syn_in=per(8.0, 12.0), I_e=per(0.0, 50.0))
    model.init_state()
    return model


def _state(model, rng, quiet=True, inputs=True):
    """A random mid-simulation state: some neurons refractory, some above threshold."""
    n, dtype = model.varshape[0], model._dtype()
    arr = lambda x: jnp.asarray(x, dtype)
    state = {name: arr(rng.uniform(0.0, 2.0, n)) for name in _iaf_native.names(model)}
    state.update(V=arr(rng.uniform(-70.0, -52.0, n)), I=arr(rng.uniform(0.0, 100.0, n)),
                 refr=jnp.asarray(rng.integers(-2, 3, n).clip(0), jnp.int32),
                 H=arr(np.full(n, 0.5) if quiet else rng.choice([0.5, 0.05], n)))
    w = [arr(rng.uniform(0.0, 3.0, n)) for _ in range(model.N_PORTS)] if inputs else None
    return state, w


def _both(model, state, w):
    c = model.consts.value
    native = jax.jit(lambda s, w: _iaf_native.quiet_step(
        model, s, None if w is None else jnp.stack(w), c, model.EPS_ABS))(state, w)
    zeros = [jnp.zeros_like(state["V"])] * model.N_PORTS
    xla = jax.jit(lambda s, w: model._xla_step(s, w, c))(state, w or zeros)
    return native, xla


@pytest.mark.parametrize("precision", [64, 32])
@pytest.mark.parametrize("kind,heterogeneous,inputs",
                         [("exp", False, True), ("exp", True, False), ("alpha", False, False),
                          ("alpha", True, True)])
def test_quiet_step_equals_the_xla_step(kind, heterogeneous, inputs, precision):
    brainstate.environ.set(precision=precision)
    rng = np.random.default_rng(len(kind) * 10 + heterogeneous)
    try:
        with brainstate.environ.context(dt=0.1):
            model = _model(kind, heterogeneous, rng)
            state, w = _state(model, rng, inputs=inputs)
            native, xla = _both(model, state, w)
    finally:
        brainstate.environ.set(precision=64)
    assert int(native["loud"]) == 0
    assert np.array_equal(native["spike"], xla["spike"])
    assert np.array_equal(native["refr"], xla["refr"])
    assert np.asarray(xla["spike"]).any() and np.asarray(state["refr"] > 0).any()
    # the same expressions; XLA fuses some multiply-adds, the native loop does not
    rtol = 1e-12 if precision == 64 else 1e-5
    for key in (*_iaf_native.names(model), "H"):
        np.testing.assert_allclose(native[key], xla[key], rtol=rtol, atol=rtol, err_msg=key)


@pytest.mark.parametrize("shared", [True, False])
def test_the_loop_buffers_the_next_current_where_the_step_is_quiet(shared):
    """``I`` becomes ``I_next`` (one value for all, or one per neuron) for the neurons whose
    step was quiet; the others keep their current for the XLA step that redoes them; without
    ``I_next`` the current stays."""
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(11)
    with brainstate.environ.context(dt=0.1):
        model = _model("exp", False, rng)
        state, w = _state(model, rng, quiet=False)
        n = state["V"].shape[0]
        I_next = jnp.full((1,), 42.5) if shared else jnp.asarray(rng.uniform(-50, 50, n))
        c = model.consts.value
        step = jax.jit(lambda s, w: _iaf_native.quiet_step(model, s, jnp.stack(w), c,
                                                            model.EPS_ABS))
        native = step({**state, "I_next": I_next}, w)
        kept = step(state, w)
    loud = np.asarray(native["loud_mask"]) > 0
    assert loud.any() and not loud.all()
    expected = np.broadcast_to(np.asarray(I_next), (n,))
    np.testing.assert_array_equal(np.asarray(native["I"])[~loud], expected[~loud])
    np.testing.assert_array_equal(np.asarray(native["I"])[loud], np.asarray(state["I"])[loud])
    np.testing.assert_array_equal(kept["I"], state["I"])


def test_a_step_that_is_not_quiet_is_counted_marked_and_left_alone():
    """Neurons whose step is not quiet (a short carried sub-step, or a large error) are
    counted and marked, keep their state and do not spike; the others get the XLA step's
    results."""
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(7)
    with brainstate.environ.context(dt=0.1):
        model = _model("alpha", False, rng)
        state, w = _state(model, rng, quiet=False)
        native, xla = _both(model, state, w)
        # a large conductance on a neuron that is not refractory: a large error of V
        big = dict(state, H=jnp.full_like(state["H"], 0.5), x0=state["x0"].at[17].set(5e4),
                   refr=state["refr"].at[17].set(0), V=state["V"].at[17].set(-70.0))
        native_big, _ = _both(model, big, w)
    loud = np.asarray(native["loud_mask"]) > 0
    assert int(native["loud"]) == loud.sum() > 0
    np.testing.assert_array_equal(loud, np.asarray(state["H"]) <= 0.1)
    np.testing.assert_array_equal(np.flatnonzero(native_big["loud_mask"]), [17])
    assert not np.asarray(native["spike"])[loud].any()
    for key in (*_iaf_native.names(model), "refr", "H"):
        old, new, ref = (np.asarray(x[key]) for x in (state, native, xla))
        np.testing.assert_array_equal(new[loud], old[loud], err_msg=key)
        np.testing.assert_allclose(new[~loud], ref[~loud], rtol=1e-12, atol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("kind", ["exp", "alpha"])
def test_update_takes_the_xla_step_for_the_neurons_that_are_not_quiet(kind):
    """Every second neuron starts with H = dt (not above it): their results are the XLA
    step's exactly, the others' the native loop's (= XLA's up to fused multiply-adds);
    inputs given with ``add_delta_input`` jump the conductances in both."""
    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(5)
    with brainstate.environ.context(dt=0.1):
        model = _model(kind, True, rng)
        state, w = _state(model, rng)
        loud = np.arange(model.varshape[0]) % 2 == 0
        state["H"] = jnp.where(loud, 0.1, state["H"])
        for name, st in zip(_iaf_native.names(model),
                            (model.V_state, *model._conductance_states())):
            st.value = state[name]
        model.integration_step.value, model.I_stim.value = state["H"], state["I"]
        model.refractory_step_count.value = state["refr"]
        xla = jax.jit(lambda s, w: model._xla_step(s, w, model.consts.value))(state, w)
        for label, row in zip(model.receptor_labels, w):
            model.add_delta_input(f"in_{label}", row, label=label)
        spike = model.update(5.0)                  # buffered for the next step
    V, H = np.asarray(model.V_state.value), np.asarray(model.integration_step.value)
    np.testing.assert_array_equal(model.I_stim.value, 5.0)    # loud neurons' too
    np.testing.assert_array_equal(V[loud], np.asarray(xla["V"])[loud])
    np.testing.assert_array_equal(H[loud], np.asarray(xla["H"])[loud])
    np.testing.assert_allclose(V[~loud], np.asarray(xla["V"])[~loud], rtol=1e-12)
    for name, st in zip(_iaf_native.names(model)[1:], model._conductance_states()):
        np.testing.assert_allclose(st.value, xla[name], rtol=1e-12, err_msg=name)
    np.testing.assert_array_equal(np.asarray(spike) > 0, np.asarray(xla["spike"]))


def test_which_models_have_the_native_step():
    assert _iaf_native.supports(iaf_cond_exp(3)) and _iaf_native.supports(iaf_cond_alpha(3))
    # adaptation states besides the port conductances: the XLA step only
    assert not _iaf_native.supports(iaf_cond_exp_sfa_rr(3))


@pytest.mark.parametrize("kind,heterogeneous", [("exp", True), ("alpha", False)])
def test_a_long_loop_runs_in_two_halves_with_the_results_of_one_loop_per_neuron(
        kind, heterogeneous):
    """From native_loop.SPLIT_FROM neurons the loop runs in two halves, one of them on the
    ring worker's thread: each neuron's results are those of a loop too short to be split
    over the same neurons (a cut elsewhere), bit for bit, also with per-neuron constants."""
    from pynn_brainpy.engine import _ring_worker, native_loop
    brainstate.environ.set(precision=64)
    n, cut = native_loop.SPLIT_FROM + 200, 700
    rng = np.random.default_rng(3)
    with brainstate.environ.context(dt=0.1):
        whole = _model(kind, heterogeneous, rng, n=n)
        state, w = _state(whole, rng, quiet=False)
        before = sum(_ring_worker.halves())
        split, _ = _both(whole, state, w)
        assert sum(_ring_worker.halves()) == before + 1
        consts = whole.consts.value
        parts = []
        for lo, hi in ((0, cut), (cut, n)):
            piece = lambda x: x[..., lo:hi] if np.ndim(x) and np.shape(x)[-1] == n else x
            sliced = {k: piece(v) for k, v in state.items()}
            c = jax.tree.map(piece, consts)
            parts.append(jax.jit(lambda s, w_, c=c: _iaf_native.quiet_step(
                whole, s, w_, c, whole.EPS_ABS))(sliced, piece(jnp.stack(w))))
    assert int(split["loud"]) == int(parts[0]["loud"]) + int(parts[1]["loud"]) > 0
    for key in (*_iaf_native.names(whole), "refr", "H", "spike", "loud_mask"):
        np.testing.assert_array_equal(
            split[key], np.concatenate([p[key] for p in parts], axis=-1), err_msg=key)
