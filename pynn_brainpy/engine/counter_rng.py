r"""Counter-based random numbers for the draws made in every step: Threefry-2x32-20, unrolled.

Threefry-2x32 with 20 rounds (Salmon et al. 2011, "Parallel random numbers: as easy as
1, 2, 3"; Random123; the generator behind ``jax.random``'s default keys) maps a 64-bit key
and a 64-bit counter to 64 random bits. With key ``(k_0, k_1)`` and the extra key word
``k_2 = k_0 ⊕ k_1 ⊕ \mathrm{0x1BD11BDA}``, the counter ``(x_0, x_1)`` starts as
``(x_0 + k_0, x_1 + k_1)``; each round is

.. math::

    x_0 ← x_0 + x_1, \qquad x_1 ← \mathrm{rotl}(x_1, R_r) ⊕ x_0

with rotations ``R = 13, 15, 26, 6`` in odd groups of four rounds and ``17, 29, 16, 24`` in
even ones, and after group ``g`` (g = 1…5) the key is injected again:
``x_0 ← x_0 + k_{g mod 3}``, ``x_1 ← x_1 + k_{(g+1) mod 3} + g`` (all arithmetic mod 2³²).

Why our own: on the CPU, JAX lowers its threefry as a rolled loop (an XLA while loop of five
iterations, each copying its state), so a step's ``jax.random.fold_in`` and ``uniform`` cost
microseconds for a few hundred numbers. Written out here it is about a hundred integer
operations that XLA fuses into one loop over the cells, on every backend; the bits are the
same as ``jax.random``'s threefry primitive for the same key and counter (tested), so the
streams are the same on CPU and GPU.

Streams: the key of step ``m`` of a stream with key ``K`` is ``threefry(K, (m, 0))`` (the
second word holds the step's high bits past 2³²); the
uniform number of cell ``i`` in that step uses counter ``(i, 0)`` under the step's key. A
draw thus depends only on (seed, stream, step, cell): not on chunking, and a reset replays it.
"""

import jax.numpy as jnp
import numpy as np

__all__ = ["threefry2x32", "step_key", "uniform"]

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(key, x0, x1):
    """Threefry-2x32-20 of the counter ``(x0, x1)`` (uint32 arrays of one shape, or
    scalars) under ``key`` (uint32, shape (2,)): the two output words."""
    key = jnp.asarray(key, jnp.uint32)
    ks = (key[0], key[1], key[0] ^ key[1] ^ np.uint32(_PARITY))
    x0 = jnp.asarray(x0, jnp.uint32) + ks[0]
    x1 = jnp.asarray(x1, jnp.uint32) + ks[1]
    for group in range(1, 6):
        for r in _ROTATIONS[(group - 1) % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[group % 3]
        x1 = x1 + ks[(group + 1) % 3] + np.uint32(group)
    return x0, x1


def step_key(key, m):
    """The key of step ``m`` (an integer scalar) of the stream with key ``key``: counter
    ``(m mod 2³², m div 2³²)``, so a 64-bit step count never wraps."""
    m = jnp.asarray(m)
    high = (m >> 32).astype(jnp.uint32) if m.dtype.itemsize == 8 else np.uint32(0)
    return jnp.stack(threefry2x32(key, m.astype(jnp.uint32), high))


def uniform(key, n: int, dtype):
    """``n`` uniform numbers in [0, 1) under ``key``, one per counter ``(i, 0)``, with the
    full precision of ``dtype``: 53 random bits in float64 (27 of the first word, 26 of the
    second), 24 in float32 (of the first word). Exact conversions: every value is
    ``k · 2^-53`` (or ``k · 2^-24``) for a uniform integer ``k``."""
    y0, y1 = threefry2x32(key, jnp.arange(n, dtype=jnp.uint32), np.uint32(0))
    if np.dtype(dtype) == np.float64:
        high = (y0 >> np.uint32(5)).astype(jnp.float64)
        low = (y1 >> np.uint32(6)).astype(jnp.float64)
        return (high * 67108864.0 + low) * (1.0 / 9007199254740992.0)
    if np.dtype(dtype) == np.float32:
        return (y0 >> np.uint32(8)).astype(jnp.float32) * np.float32(1.0 / 16777216.0)
    raise ValueError(f"uniform: dtype must be float32 or float64, got {np.dtype(dtype)}.")
