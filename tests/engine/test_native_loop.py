"""The pieces shared by the models' native quiet steps."""

import numpy as np
import pytest

from pynn_brainpy.engine import native_loop

_EPS_ABS = 1e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_largest_quiet_error_decides_as_the_division(dtype):
    t = np.dtype(dtype).type
    e = t(native_loop.largest_quiet_error(_EPS_ABS, dtype))
    eps = t(_EPS_ABS)
    assert e / eps < t(0.5)
    assert not np.nextafter(e, t(1)) / eps < t(0.5)


def _decay_loop(heterogeneous):
    """A loop for dV/dt = (a − V)/τ: the whole-step trial from the shared writer; a neuron
    is quiet when its carried step covers the step and its error is small."""
    layout = native_loop.Layout(("V", "H"), ("V", "H"), ("loud_mask",), {"a": 1, "tau": 1},
                                {}, integer=("loud_mask",))
    w = native_loop.Writer(heterogeneous)
    w.add("v0 = V[i]")
    a, tau = w.const("a"), w.const("tau")
    w.fehlberg_v(lambda s: w.add(f"k{s} = ({a} - vs) / {tau}"))
    w.add("ev = herr")
    w.add("quiet = (H[i] > h) & (abs(ev) <= emax)")
    w.add("loud += 0 if quiet else 1")
    w.add("V[i] = v0 + hsol if quiet else v0")
    w.add("H[i] = grown if quiet else H[i]")
    w.add("loud_mask_o[i] = 0 if quiet else 1")
    return layout, w.source(layout)


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
@pytest.mark.parametrize("heterogeneous", [False, True])
def test_a_loop_from_the_shared_pieces_takes_the_fehlberg_trial(heterogeneous):
    import brainstate
    import jax
    import jax.numpy as jnp
    from pynn_brainpy.engine import rkf45

    brainstate.environ.set(precision=64)
    layout, source = _decay_loop(heterogeneous)
    target = native_loop.compile_loop("test_decay", source, layout, "float64")
    rng = np.random.default_rng(1)
    n, h = 97, 0.1
    V = rng.uniform(-1.0, 1.0, n)
    V[5] = 1e7                                     # a large error: not quiet
    H = np.where(np.arange(n) == 7, h, 0.5)        # a short carried step: not quiet
    a = rng.uniform(-1.0, 1.0, n) if heterogeneous else np.float64(0.3)
    tau = rng.uniform(2.0, 5.0, n) if heterogeneous else np.float64(3.0)
    constants = {"a": jnp.asarray(a), "tau": jnp.asarray(tau)}
    assert native_loop.is_heterogeneous(constants, layout, n) == heterogeneous
    out = jax.jit(lambda V, H: native_loop.call(target, layout, {"V": V, "H": H}, constants,
                                                heterogeneous, h, _EPS_ABS))(
        jnp.asarray(V), jnp.asarray(H))
    rhs = lambda y: (jnp.asarray(a) - y) / jnp.asarray(tau)
    V_xla, err = rkf45.rkf45_trial(rhs, jnp.asarray(V), rhs(jnp.asarray(V)), jnp.full(n, h))
    loud = np.zeros(n, bool)
    loud[[5, 7]] = True
    np.testing.assert_array_equal(np.asarray(out["loud_mask"]) > 0, loud)
    assert int(out["loud"]) == 2
    assert np.abs(np.asarray(err))[~loud].max() / _EPS_ABS < 0.5 <= abs(err[5]) / _EPS_ABS
    np.testing.assert_allclose(np.asarray(out["V"])[~loud], np.asarray(V_xla)[~loud],
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(np.asarray(out["V"])[loud], V[loud])
    np.testing.assert_array_equal(np.asarray(out["H"]), np.where(loud, H, 5 * h))


def _one_line_loop(line, exact, constants=("c",)):
    """A loop setting ``V[i]`` by ``line(writer)`` (an expression), every neuron quiet."""
    layout = native_loop.Layout(("V",), ("V",), (), {c: 1 for c in constants}, {}, ())
    w = native_loop.Writer(False, exact)
    w.add(f"V[i] = {line(w)}")
    return layout, w.source(layout)


def _run_one_line_loop(name, line, exact, dtype, V, **constants):
    import jax
    import jax.numpy as jnp

    layout, source = _one_line_loop(line, exact, tuple(constants))
    target = native_loop.compile_loop(name, source, layout, np.dtype(dtype).name)
    c = {k: jnp.asarray(v, dtype) for k, v in constants.items()}
    out = jax.jit(lambda V: native_loop.call(target, layout, {"V": V}, c, False, 0.1,
                                             _EPS_ABS))(jnp.asarray(V, dtype))
    return np.asarray(out["V"])


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
@pytest.mark.parametrize("exact,dtype", [(True, np.float64), (True, np.float32),
                                         (False, np.float32)])
def test_a_quotient_is_a_division_where_exact_else_a_product_with_the_reciprocal(exact, dtype):
    import brainstate

    brainstate.environ.set(precision=64 if dtype == np.float64 else 32)
    t = np.dtype(dtype).type
    V = np.random.default_rng(2).uniform(-100.0, 100.0, 1000).astype(dtype)
    c = t(3.7)
    got = _run_one_line_loop("test_quotient", lambda w: w.quotient("V[i]", "c"), exact,
                             dtype, V, c=c)
    if exact:
        np.testing.assert_array_equal(got, V / c)
    else:
        np.testing.assert_array_equal(got, V * (t(1) / c))
        assert np.any(got != V / c)                      # not the division in disguise
        np.testing.assert_allclose(got, V / c, rtol=2 * np.finfo(dtype).eps)


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
def test_float64_loops_round_every_operation():
    """No fused multiply-add in a float64 loop: x·x − c rounds x·x first (NEST's results)."""
    import brainstate

    brainstate.environ.set(precision=64)
    x = 1.0 + 2.0 ** -27                        # x·x = 1 + 2^-26 + 2^-54 exactly
    got = _run_one_line_loop("test_no_fma", lambda w: f"V[i] * V[i] - {w.const('c')}",
                             True, np.float64, np.full(64, x), c=1.0 + 2.0 ** -26)
    np.testing.assert_array_equal(got, 0.0)     # fused: 2^-54


def test_the_wide_vector_width_is_for_this_host_only(monkeypatch):
    """32 elements where numba compiles for this host and it has AVX2; LLVM's own choice
    (0) where numba compiles for another CPU (NUMBA_CPU_NAME)."""
    import llvmlite.binding as llvm
    from numba.core import config
    from pynn_brainpy.engine import native

    monkeypatch.setattr(config, "CPU_NAME", None)
    assert native.wide_vector_width() == (
        32 if llvm.get_host_cpu_features().get("avx2", False) else 0)
    monkeypatch.setattr(config, "CPU_NAME", "generic")
    assert native.wide_vector_width() == 0


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
def test_a_loop_still_compiling_is_waited_for(monkeypatch):
    """The loop is compiled in another thread while the caller goes on; a computation that
    calls it before it is ready waits for it (here a second), and gets its results."""
    import time

    from pynn_brainpy.engine import native
    compile_into = native._compile_into

    def slow(*args):
        time.sleep(1.0)
        compile_into(*args)

    monkeypatch.setattr(native, "_compile_into", slow)
    V = np.arange(100.0)
    t0 = time.perf_counter()
    got = _run_one_line_loop("test_waited", lambda w: f"V[i] * 3.0 + {w.const('c')}", True,
                             np.float64, V, c=0.5)
    assert time.perf_counter() - t0 >= 1.0
    np.testing.assert_array_equal(got, V * 3.0 + 0.5)
    native.check_compiled()


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
def test_a_loop_that_failed_to_compile_makes_its_callers_raise(monkeypatch):
    """A loop whose compilation failed is not run by its handler, and the failure is raised
    to whoever checks (a network does after every chunk): no results from a loop not run."""
    from pynn_brainpy.engine import native

    compile_cfunc = native.compile_cfunc

    def broken(function, *args, **kwargs):
        if function.__name__ == "half":
            raise TypeError("a loop numba cannot compile")
        return compile_cfunc(function, *args, **kwargs)

    monkeypatch.setattr(native, "compile_cfunc", broken)
    monkeypatch.setattr(native, "_FAILED", {})
    _run_one_line_loop("test_failed", lambda w: f"V[i] * 5.0 - {w.const('c')}", True,
                       np.float64, np.arange(10.0), c=0.5)
    with pytest.raises(RuntimeError, match="compiling a native handler or neuron loop failed"
                       ) as info:
        native.check_compiled()
    assert isinstance(info.value.__cause__, TypeError)


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_loops_are_right_at_every_length(dtype):
    """Every length from 1 to 70 (the vector body, the remainder, both) gives the per-element
    result; the module names the vector width it was compiled with (numba's cache does
    not key on it)."""
    import brainstate
    from pynn_brainpy.engine import native

    brainstate.environ.set(precision=64 if dtype == np.float64 else 32)
    rng = np.random.default_rng(3)
    for n in range(1, 71):
        V = rng.uniform(-10.0, 10.0, n).astype(dtype)
        got = _run_one_line_loop("test_lengths", lambda w: f"V[i] * {w.const('c')} + one",
                                 True, dtype, V, c=dtype(0.5))
        np.testing.assert_array_equal(got, V * dtype(0.5) + dtype(1.0))
    width = native.wide_vector_width() or "its own choice"
    import glob
    import os
    modules = glob.glob(os.path.join(native_loop._cache_dir(), "test_lengths_*.py"))
    assert modules and all(open(m).readline().strip() == f"# LLVM loop vector width: {width}"
                           for m in modules)


@pytest.mark.skipif(not native_loop.available(np.float64), reason="no native loops here")
def test_loops_from_the_split_length_on_run_in_two_halves_right_at_the_edges():
    """Around SPLIT_FROM and at odd lengths the two halves (split at a multiple of
    SPLIT_ALIGN) give every element its result, and each call from SPLIT_FROM on is one
    split (counted by the worker or its caller)."""
    import brainstate
    from pynn_brainpy.engine import _ring_worker

    brainstate.environ.set(precision=64)
    rng = np.random.default_rng(9)
    edge = native_loop.SPLIT_FROM
    for n in (edge - 1, edge, edge + 1, edge + native_loop.SPLIT_ALIGN + 1, 3 * edge + 5):
        V = rng.uniform(-10.0, 10.0, n)
        before = sum(_ring_worker.halves())
        got = _run_one_line_loop("test_split", lambda w: f"V[i] * {w.const('c')} + one",
                                 True, np.float64, V, c=0.25)
        np.testing.assert_array_equal(got, V * 0.25 + 1.0)
        assert sum(_ring_worker.halves()) == before + (n >= edge)


def test_redo_loud_takes_the_xla_results_of_the_marked_neurons_only():
    import jax.numpy as jnp

    fast = {"V": jnp.arange(4.0), "loud_mask": jnp.asarray([0, 1, 0, 1], jnp.int32),
            "loud": jnp.asarray(2, jnp.int32)}
    new = native_loop.redo_loud(fast, lambda s: {"V": s["V"] + 10.0})
    np.testing.assert_array_equal(new["V"], [0.0, 11.0, 2.0, 13.0])
    quiet = dict(fast, loud=jnp.asarray(0, jnp.int32))         # no round of the XLA step
    new = native_loop.redo_loud(quiet, lambda s: {"V": s["V"] * 0})
    np.testing.assert_array_equal(new["V"], [0.0, 1.0, 2.0, 3.0])
