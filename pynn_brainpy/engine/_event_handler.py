"""The CPU handler of :mod:`.event_product`: a step's spikes added into the ring buffer.

Imported on first use (it imports numba); :func:`.native.register` compiles and registers it.
"""

import numba
import numpy as np

from .native import (ARGS, RETS, buffer, done, frame_of, is_f64,
                     next_nonzero, vector)


@numba.njit(error_model="numpy", boundscheck=False)
def _accumulate_into_ring(counts, weights, positions, indptr, step, ring, arriving):
    """The product added straight into the ring buffer, then the next row taken out.

    The ring (flat) has ``L`` rows of ``n = arriving.size`` numbers; an entry at position
    ``p = delay·n + target`` lands at ``(step mod L)·n + p``, wrapped around the ring (row
    ``(step + delay) mod L``). Row ``(step + 1) mod L`` is then complete (delays >= 1):
    copied to ``arriving`` and cleared."""
    n = arriving.shape[0]
    base = (step % (ring.shape[0] // n)) * n
    i = next_nonzero(counts, 0)
    while i < counts.shape[0]:
        if counts[i] > 0:
            add_events(ring, weights, positions, indptr[i], indptr[i + 1], counts[i], base)
        i = next_nonzero(counts, i + 1)
    take_out_next_row(ring, arriving, step)


@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def add_events(ring, weights, positions, first, end, k, base):
    """``k`` spikes of a sender whose CSR entries include ``first … end − 1``: each entry
    ``j`` adds ``k · weights[j]`` at ``base + positions[j]``, wrapped around the ring."""
    size = ring.shape[0]
    for j in range(first, end):
        at = base + positions[j]
        if at >= size:                      # wrapped: no division per event
            at -= size
        ring[at] += k * weights[j]


@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def take_out_next_row(ring, arriving, step):
    """Row ``(step + 1) mod L`` of the ring (rows of ``n = arriving.size``) copied to
    ``arriving`` and cleared."""
    n = arriving.shape[0]
    size = ring.shape[0]
    base = (step % (size // n)) * n
    first = base + n if base + n < size else 0
    # two plain loops over a view, which LLVM makes a copy and a fill (numba's slice
    # assignments were slower in a scratch timing)
    row = ring[first:first + n]
    for j in range(n):
        arriving[j] = row[j]
    for j in range(n):
        row[j] = 0


def _ring_handler(frame_address):
    """XLA_FFI_Error* handler(XLA_FFI_CallFrame*): arguments counts, weights (float32 or
    float64), positions, indptr, step (int32, one element), ring (the float type, flat;
    aliased with the first result); results ring, arriving."""
    frame = frame_of(frame_address)
    counts_buffer = buffer(frame, ARGS, 0)
    positions = vector(buffer(frame, ARGS, 2), np.int32)
    indptr = vector(buffer(frame, ARGS, 3), np.int32)
    step = vector(buffer(frame, ARGS, 4), np.int32)[0]
    if is_f64(counts_buffer):
        _accumulate_into_ring(
            vector(counts_buffer, np.float64), vector(buffer(frame, ARGS, 1), np.float64),
            positions, indptr, step, vector(buffer(frame, RETS, 0), np.float64),
            vector(buffer(frame, RETS, 1), np.float64))
    else:
        _accumulate_into_ring(
            vector(counts_buffer, np.float32), vector(buffer(frame, ARGS, 1), np.float32),
            positions, indptr, step, vector(buffer(frame, RETS, 0), np.float32),
            vector(buffer(frame, RETS, 1), np.float32))
    return done()
