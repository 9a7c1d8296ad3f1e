"""The order of a network's connections: by sending row, then by a key (where the event lands).

Compiled by numba and kept on disk; :mod:`.warmup` compiles it in a second process at a first
run. Imports numba and NumPy only.
"""

import numba
import numpy as np

__all__ = ["order_by_row_then_key"]


@numba.njit(cache=True)
def order_by_row_then_key(rows, keys, indptr):
    """The permutation that groups ``rows`` by value and, inside each row, orders the
    entries by ``keys`` (``0 ≤ key < 2**31``; equal keys keep their order), and the keys so
    ordered (both int32: fewer than 2**31 entries, as ``indptr`` counts them).

    Three stable counting sorts, the least significant first: by the key's low 16 bits, by
    its high 15 bits, by row (whose first slots ``indptr`` holds). O(n) each, where NumPy's
    stable argsort of 5e7 connections took seconds; and no comparison sort for numba to
    compile at a first run."""
    n = rows.size
    order = np.empty(n, np.int32)
    for i in range(n):
        order[i] = i
    moved = np.empty(n, np.int32)
    slot = np.empty(1 << 16, np.int64)
    for shift in (0, 16):
        slot[:] = 0
        for i in range(n):
            slot[(keys[i] >> shift) & 0xFFFF] += 1
        first = 0
        for digit in range(1 << 16):
            first, slot[digit] = first + slot[digit], first
        for i in range(n):
            digit = (keys[order[i]] >> shift) & 0xFFFF
            moved[slot[digit]] = order[i]
            slot[digit] += 1
        order, moved = moved, order
    next_slot = indptr[:-1].astype(np.int64)
    ordered_keys = np.empty(n, np.int32)
    for i in range(n):
        row = rows[order[i]]
        moved[next_slot[row]] = order[i]
        ordered_keys[next_slot[row]] = keys[order[i]]
        next_slot[row] += 1
    return moved, ordered_keys
