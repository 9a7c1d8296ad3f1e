"""The CPU handler of :mod:`.event_product`: an XLA FFI handler compiled by numba.

Imported on first use (it imports numba). :func:`compile_handler` compiles a ``numba.cfunc``
that XLA calls with its call frame; numba caches the machine code on disk (where it can
write) under a name that carries the FFI API version the handler reports, so a cached
handler never answers for another jaxlib.
"""

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Word offsets (8 bytes) in XLA's C structs on 64-bit platforms (xla/ffi/api/c_api.h).
# XLA_FFI_CallFrame: struct_size, extension_start, api, ctx, stage, args{struct_size,
# extension_start, size, types, args}, rets{struct_size, extension_start, size, types, rets}, ...
_FRAME_EXTENSION, _ARGS, _RETS = 1, 9, 14
# XLA_FFI_Buffer: struct_size, extension_start, dtype (XLA_FFI_DataType), data, rank, dims
_BUFFER_DTYPE, _BUFFER_DATA, _BUFFER_DIMS = 2, 3, 5
_F32, _F64 = 11, 12
# XLA_FFI_Extension_Base: struct_size, type, next; the metadata extension adds a pointer to
# XLA_FFI_Metadata, whose int32 fields 6, 7, 8 are the API's major and minor version and the
# handler's traits.
_EXTENSION_TYPE, _EXTENSION_NEXT, _EXTENSION_METADATA, _METADATA_TYPE = 1, 2, 3, 1
_MAJOR, _MINOR, _TRAITS = 6, 7, 8

# The version the handler reports; set by compile_handler before numba compiles it.
_API_MAJOR, _API_MINOR = 0, 0


@intrinsic
def _pointer(typingctx, address):
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@numba.njit(inline="always")
def _words(address, n):
    return numba.carray(_pointer(address), (n,), np.int64)


@numba.njit(inline="always")
def _buffer(frame, table, i):
    """XLA_FFI_Buffer of argument/result ``i`` (``table``: _ARGS or _RETS), as words."""
    return _words(_words(frame[table], i + 1)[i], _BUFFER_DIMS + 1)


@numba.njit(inline="always")
def _vector(buf, element):
    n = _words(buf[_BUFFER_DIMS], 1)[0]
    return numba.carray(_pointer(buf[_BUFFER_DATA]), (n,), element)


@numba.njit(error_model="numpy", boundscheck=False)
def _accumulate_into_ring(counts, weights, positions, indptr, step, ring, arriving):
    """The product added straight into the ring buffer, then the next row taken out.

    The ring (flat) has ``L`` rows of ``n = arriving.size`` numbers; an entry at position
    ``p = delay·n + target`` lands at ``(step mod L)·n + p``, wrapped around the ring (row
    ``(step + delay) mod L``). Row ``(step + 1) mod L`` is then complete (delays >= 1):
    copied to ``arriving`` and cleared."""
    n = arriving.shape[0]
    size = ring.shape[0]
    base = (step % (size // n)) * n
    for i in range(counts.shape[0]):
        k = counts[i]
        if k > 0:
            for j in range(indptr[i], indptr[i + 1]):
                at = base + positions[j]
                if at >= size:                      # wrapped: no division per event
                    at -= size
                ring[at] += k * weights[j]
    first = base + n if base + n < size else 0
    arriving[:] = ring[first:first + n]
    ring[first:first + n] = 0


@numba.njit(inline="always")
def _answered_metadata(frame):
    """Whether XLA only asked for the API version (answered here)."""
    extension = frame[_FRAME_EXTENSION]
    while extension != 0:
        base = _words(extension, _EXTENSION_METADATA + 1)
        if (base[_EXTENSION_TYPE] & 0xFFFFFFFF) == _METADATA_TYPE:
            meta = numba.carray(_pointer(base[_EXTENSION_METADATA]), (_TRAITS + 1,), np.int32)
            meta[_MAJOR] = _API_MAJOR
            meta[_MINOR] = _API_MINOR
            meta[_TRAITS] = 0
            return True
        extension = base[_EXTENSION_NEXT]
    return False


def _ring_handler(frame_address):
    """XLA_FFI_Error* handler(XLA_FFI_CallFrame*): arguments counts, weights (float32 or
    float64), positions, indptr, step (int32, one element), ring (the float type, flat;
    aliased with the first result); results ring, arriving."""
    frame = numba.carray(frame_address, (_RETS + 1,), np.int64)
    if _answered_metadata(frame):
        return _pointer(0)
    counts_buffer = _buffer(frame, _ARGS, 0)
    positions = _vector(_buffer(frame, _ARGS, 2), np.int32)
    indptr = _vector(_buffer(frame, _ARGS, 3), np.int32)
    step = _vector(_buffer(frame, _ARGS, 4), np.int32)[0]
    if (counts_buffer[_BUFFER_DTYPE] & 0xFFFFFFFF) == _F64:
        _accumulate_into_ring(
            _vector(counts_buffer, np.float64), _vector(_buffer(frame, _ARGS, 1), np.float64),
            positions, indptr, step, _vector(_buffer(frame, _RETS, 0), np.float64),
            _vector(_buffer(frame, _RETS, 1), np.float64))
    else:
        _accumulate_into_ring(
            _vector(counts_buffer, np.float32), _vector(_buffer(frame, _ARGS, 1), np.float32),
            positions, indptr, step, _vector(_buffer(frame, _RETS, 0), np.float32),
            _vector(_buffer(frame, _RETS, 1), np.float32))
    return _pointer(0)


def compile_handler(major: int, minor: int):
    """:func:`_ring_handler` as a ``numba.cfunc`` reporting FFI API version
    ``major.minor``."""
    global _API_MAJOR, _API_MINOR
    _API_MAJOR, _API_MINOR = int(major), int(minor)
    _ring_handler.__qualname__ = f"_ring_handler_ffi_api_{_API_MAJOR}_{_API_MINOR}"
    signature = types.voidptr(types.voidptr)
    try:
        return numba.cfunc(signature, error_model="numpy", boundscheck=False,
                           cache=True)(_ring_handler)
    except RuntimeError:        # no writable cache directory: compile for this process only
        return numba.cfunc(signature, error_model="numpy", boundscheck=False)(_ring_handler)
