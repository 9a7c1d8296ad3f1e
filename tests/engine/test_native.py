"""``engine.native``: handlers registered and compiled in the background, names of cached
machine code, scans of mostly-zero arrays."""

import os
import shutil
import threading
import time

import numba
import numpy as np
import pytest

from pynn_brainpy.engine import native


def _add_one(frame_address):
    """A handler: its one float32 argument (aliased with the result) plus one."""
    frame = native.frame_of(frame_address)
    values = native.vector(native.buffer(frame, native.RETS, 0), np.float32)
    for i in range(values.shape[0]):
        values[i] += 1.0
    return native.done()


def _compiled_call(target, values):
    """The program calling ``target`` on ``values``, lowered and compiled by XLA."""
    import jax
    return jax.jit(lambda x: jax.ffi.ffi_call(
        target, jax.ShapeDtypeStruct(x.shape, x.dtype), input_output_aliases={0: 0})(x)
                   ).lower(values).compile()


@pytest.mark.skipif(native.api_version() is None, reason="no XLA FFI C API header")
def test_a_handler_compiles_while_xla_compiles_and_its_first_call_waits(monkeypatch):
    """The target is registered before its handler is compiled: XLA lowers and compiles the
    program calling it meanwhile (the forwarder answers XLA's query for the API version),
    and the call waits for the handler, which then runs."""
    compile_into = native._compile_into
    compiled, release = threading.Event(), threading.Event()

    def held(*args):
        release.wait(60)
        compile_into(*args)
        compiled.set()

    monkeypatch.setattr(native, "_compile_into", held)
    values = np.arange(4, dtype=np.float32)
    program = _compiled_call(native.register("pynn_brainpy_test_add_one", _add_one,
                                             cache=False), values)
    assert not compiled.is_set()
    threading.Timer(0.5, release.set).start()
    t0 = time.perf_counter()
    got = np.asarray(program(values))
    assert compiled.is_set() and time.perf_counter() - t0 >= 0.5
    np.testing.assert_array_equal(got, values + 1.0)
    native.check_compiled()


@pytest.mark.skipif(native.api_version() is None, reason="no XLA FFI C API header")
def test_a_handler_that_failed_to_compile_is_not_run_and_its_callers_raise(monkeypatch):
    compile_cfunc = native.compile_cfunc

    def broken(function, *args, **kwargs):
        if function is _add_one:
            raise TypeError("a handler numba cannot compile")
        return compile_cfunc(function, *args, **kwargs)

    monkeypatch.setattr(native, "compile_cfunc", broken)
    monkeypatch.setattr(native, "_FAILED", {})
    values = np.arange(4, dtype=np.float32)
    program = _compiled_call(native.register("pynn_brainpy_test_add_one_broken", _add_one,
                                             cache=False), values)
    np.testing.assert_array_equal(np.asarray(program(values)), values)
    with pytest.raises(RuntimeError, match="compiling a native handler or neuron loop failed"
                       ) as info:
        native.check_compiled()
    assert isinstance(info.value.__cause__, TypeError)


def test_the_sources_digest_follows_every_native_source(tmp_path):
    """An edit in any module whose functions the cached handlers inline gives other names to
    the cached machine code (numba itself checks only the function's own file)."""
    here = os.path.dirname(native.__file__)
    for name in native._NATIVE_SOURCES:
        shutil.copy(os.path.join(here, name), tmp_path / name)
    assert native._sources_digest(str(tmp_path)) == native.SOURCES_DIGEST
    for name in native._NATIVE_SOURCES:
        original = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(original + b"\n")
        assert native._sources_digest(str(tmp_path)) != native.SOURCES_DIGEST, name
        (tmp_path / name).write_bytes(original)
    (tmp_path / "native.py").unlink()
    assert native._sources_digest(str(tmp_path)) == "nosources"


def test_frame_readers_find_each_buffer_and_compile_once_for_all_indices():
    """A handler's view of XLA's call frame, on a frame laid out by hand: the readers return
    each argument's data whatever its index, and are overloads (numba would compile a
    dispatcher once per constant index, ~70 ms each)."""
    arrays = [np.arange(5, dtype=np.float32) + 10 * k for k in range(4)]
    dims = [np.array([a.size], np.int64) for a in arrays]
    # XLA_FFI_Buffer: struct_size, extension_start, dtype, data, rank, dims
    structs = [np.array([0, 0, 11, a.ctypes.data, 1, d.ctypes.data], np.int64)
               for a, d in zip(arrays, dims)]
    table = np.array([b.ctypes.data for b in structs], np.int64)
    frame = np.zeros(native.RETS + 1, np.int64)
    frame[native.ARGS] = table.ctypes.data

    @numba.njit
    def read(frame):
        return (native.vector(native.buffer(frame, native.ARGS, 0), np.float32)[1],
                native.vector(native.buffer(frame, native.ARGS, 3), np.float32)[4],
                native.data(native.buffer(frame, native.ARGS, 2), 5, np.float32)[0],
                native.is_f64(native.buffer(frame, native.ARGS, 1)))

    assert read(frame) == (1.0, 34.0, 20.0, False)
    for reader in (native.words, native.frame_of, native.frame_at, native.buffer, native.vector,
                   native.data, native.is_f64, native.done, native.neurons_from,
                   native.rows_from):
        assert not isinstance(reader, numba.core.dispatcher.Dispatcher), reader


def test_cached_native_functions_carry_the_digest_once():
    from pynn_brainpy.engine import _ring_worker

    def handler(address):
        return address

    native.with_sources_digest(handler)
    native.with_sources_digest(handler)
    assert handler.__qualname__.count(native.SOURCES_DIGEST) == 1
    assert _ring_worker._serve.py_func.__qualname__.endswith(native.SOURCES_DIGEST)
    compiled = native.compile_cfunc(handler, numba.types.int64(numba.types.int64), cache=False)
    assert compiled.ctypes(5) == 5
    assert compiled._pyfunc.__qualname__.endswith(native.SOURCES_DIGEST)


@pytest.mark.parametrize("shape", [(0,), (1,), (63,), (64,), (65,), (1000,), (4096 * 50,)])
@pytest.mark.parametrize("density", [0.0, 0.003, 0.3, 1.0])
def test_nonzero_bytes_is_flatnonzero(shape, density):
    rng = np.random.default_rng(shape[0])
    flat = (rng.random(shape) < density).astype(np.uint8) * rng.integers(1, 256, shape,
                                                                         dtype=np.uint8)
    assert np.array_equal(native.nonzero_bytes(flat), np.flatnonzero(flat))


# an overload, callable from compiled code only
_next_nonzero = numba.njit(lambda values, i: native.next_nonzero(values, i))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 63, 64, 65, 5000])
def test_next_nonzero_visits_the_nonzero_counts_in_order(dtype, size):
    """The handlers' scan of a step's counts (64 bytes at a time) lists what an element-wise
    scan lists, whatever the size's remainder and the starting point."""
    rng = np.random.default_rng(size)
    counts = np.zeros(size, dtype)
    counts[rng.integers(0, size, size // 50) if size else []] = 1
    counts[size - 1:] = 2
    if dtype != np.uint8 and size > 20:
        counts[3] = -0.0                  # nonzero bits, zero value: skipped
    visited, i = [], _next_nonzero(counts, 0)
    while i < size:
        visited.append(i)
        i = _next_nonzero(counts, i + 1)
    assert visited == np.flatnonzero(counts).tolist()
    start = size // 3
    assert _next_nonzero(counts, start) == next(
        (int(j) for j in np.flatnonzero(counts) if j >= start), size)
