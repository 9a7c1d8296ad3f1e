r"""The event-driven sparse product of a step: ``out = counts @ W`` for spike counts.

``W`` is a CSR matrix (rows: sending cells, columns: targets), ``counts`` the spike counts of
the senders in this step (mostly 0, sometimes 1, rarely more for Poisson sources)::

    out[c] = Σ_i counts[i] · W[i, c]

summed over the rows with a spike only.

On the CPU this is a native XLA FFI handler compiled with numba (``numba.cfunc``): XLA calls
it directly with the buffers' addresses, with no Python in between (brainevent's CPU kernels
go through a Python callback; what the change saved is in ``docs/performance.md``).
Elsewhere (GPU) brainevent's kernels are used, one binary product per multiplicity level.

The handler reads XLA's call frame as the C API lays it out (``xla/ffi/api/c_api.h`` of the
installed jaxlib, whose API version it reports in XLA's metadata query). If that header is
missing, the CPU also uses brainevent.
"""

import functools
import os
import re
from typing import Optional, Tuple

import brainevent
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["event_product", "native_available"]


def _ffi_api_version() -> Optional[Tuple[int, int]]:
    """(major, minor) of the XLA FFI C API of the installed jaxlib, or None."""
    import jaxlib
    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api",
                          "c_api.h")
    try:
        text = open(header).read()
    except OSError:
        return None
    found = [re.search(rf"#define XLA_FFI_API_{part}\s+(\d+)", text) for part in
             ("MAJOR", "MINOR")]
    return None if None in found else (int(found[0].group(1)), int(found[1].group(1)))


# Word offsets (8-byte) in XLA's C structs on 64-bit platforms (c_api.h):
# XLA_FFI_CallFrame: struct_size, extension_start, api, ctx, stage, args{struct_size,
# extension_start, size, types, args}, rets{struct_size, extension_start, size, types, rets}, ...
_FRAME_EXTENSION, _ARGS, _RETS = 1, 9, 14
# XLA_FFI_Buffer: struct_size, extension_start, dtype, data, rank, dims
_BUFFER_DATA, _BUFFER_DIMS = 3, 5
# XLA_FFI_Metadata_Extension: {struct_size, type, next}, metadata; XLA_FFI_Metadata as int32s:
# struct_size (0-1), api_version{struct_size (2-3), extension_start (4-5), major (6),
# minor (7)}, traits (8)
_EXTENSION_TYPE, _EXTENSION_METADATA, _METADATA_TYPE = 1, 3, 1
_MAJOR, _MINOR, _TRAITS = 6, 7, 8


@functools.lru_cache(maxsize=None)
def _handler(dtype_name: str) -> Optional[str]:
    """Compile and register the CPU handler for one float type; its target name, or None."""
    version = _ffi_api_version()
    if version is None:
        return None
    import numba
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    kind = np.dtype(dtype_name).type
    major, minor = version

    @intrinsic
    def pointer(typingctx, address):
        def codegen(context, builder, sig, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)
        return types.voidptr(types.int64), codegen

    @numba.njit(inline="always")
    def words(address, n):
        return numba.carray(pointer(address), (n,), np.int64)

    @numba.njit(inline="always")
    def buffer(frame, table, i, kind):
        """Data and first dimension of argument/result ``i`` (``table``: _ARGS or _RETS)."""
        buf = words(words(frame[table], i + 1)[i], _BUFFER_DIMS + 1)
        n = words(buf[_BUFFER_DIMS], 1)[0]
        return numba.carray(pointer(buf[_BUFFER_DATA]), (n,), kind)

    @numba.cfunc(types.voidptr(types.voidptr), error_model="numpy", boundscheck=False)
    def handler(frame_address):
        frame = numba.carray(frame_address, (_RETS + 1,), np.int64)
        extension = frame[_FRAME_EXTENSION]
        while extension != 0:                     # XLA asks for the API version
            base = words(extension, _EXTENSION_METADATA + 1)
            if (base[_EXTENSION_TYPE] & 0xFFFFFFFF) == _METADATA_TYPE:
                meta = numba.carray(pointer(base[_EXTENSION_METADATA]), (_TRAITS + 1,),
                                    np.int32)
                meta[_MAJOR] = major
                meta[_MINOR] = minor
                meta[_TRAITS] = 0
                return pointer(0)
            extension = base[2]
        counts = buffer(frame, _ARGS, 0, kind)
        weights = buffer(frame, _ARGS, 1, kind)
        indices = buffer(frame, _ARGS, 2, np.int32)
        indptr = buffer(frame, _ARGS, 3, np.int32)
        out = buffer(frame, _RETS, 0, kind)
        out[:] = 0
        for i in range(counts.shape[0]):
            k = counts[i]
            if k > 0:
                for j in range(indptr[i], indptr[i + 1]):
                    out[indices[j]] += k * weights[j]
        return pointer(0)

    name = f"pynn_brainpy_event_product_{dtype_name}"
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(handler.address), platform="cpu")
    _handler.keep_alive.append(handler)          # the code must outlive every call
    return name


_handler.keep_alive = []


def native_available(dtype) -> bool:
    """Whether the CPU handler can be used for ``dtype`` (float32 or float64)."""
    return np.dtype(dtype).name in ("float32", "float64") and \
        _handler(np.dtype(dtype).name) is not None


def _brainevent_product(counts, weights, indices, indptr: np.ndarray, n_cols: int):
    """brainevent's binary CSR products, one per multiplicity level (a Poisson source rarely
    fires twice in one step); ``indptr`` must be concrete (brainevent plans from it)."""
    csr = brainevent.CSR((weights, indices, indptr), shape=(indptr.size - 1, n_cols))

    def body(carry):
        level, total = carry
        return level + 1, total + brainevent.BinaryArray(counts >= level) @ csr

    first = brainevent.BinaryArray(counts >= 1) @ csr
    _, total = jax.lax.while_loop(lambda c: jnp.any(counts >= c[0]), body,
                                  (jnp.asarray(2, counts.dtype), first))
    return total


def event_product(counts, weights, indices, indptr: np.ndarray, n_cols: int):
    """``counts @ W`` for the CSR matrix ``W = (weights, indices, indptr)`` of shape
    ``(len(indptr) − 1, n_cols)``; ``counts`` and ``weights`` of the same float type,
    ``indices`` int32, ``indptr`` a NumPy int32 array."""
    indptr = np.asarray(indptr, np.int32)

    def default(counts, weights, indices):
        return _brainevent_product(counts, weights, indices, indptr, n_cols)

    if not native_available(counts.dtype):
        return default(counts, weights, indices)
    name = _handler(np.dtype(counts.dtype).name)

    def cpu(counts, weights, indices):
        return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((n_cols,), counts.dtype))(
            counts, weights, indices, jnp.asarray(indptr))

    return jax.lax.platform_dependent(counts, weights, indices, cpu=cpu, default=default)
