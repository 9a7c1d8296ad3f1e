"""Threefry-2x32-20 written out (engine.counter_rng): known answers, JAX's primitive, uniforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pynn_brainpy.engine import counter_rng

# Random123's known-answer vectors for threefry2x32_20: (counter, key) -> output
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6b200159, 0x99ba4efe)),
    ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
    ((0x243f6a88, 0x85a308d3), (0x13198a2e, 0x03707344), (0xc4923a9c, 0x483df7a0)),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_known_answers(counter, key, expected):
    out = counter_rng.threefry2x32(np.array(key, np.uint32), np.uint32(counter[0]),
                                   np.uint32(counter[1]))
    assert tuple(int(w) for w in out) == expected


def test_same_bits_as_jax_threefry_primitive():
    from jax._src.random.threefry2x32 import threefry_2x32
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2**32, 2, dtype=np.uint32)
    x = rng.integers(0, 2**32, (2, 4096), dtype=np.uint32)
    ours = jax.jit(counter_rng.threefry2x32)(key, x[0], x[1])
    theirs = np.asarray(threefry_2x32(jnp.asarray(key), jnp.asarray(x.ravel())))
    np.testing.assert_array_equal(np.concatenate([np.asarray(w) for w in ours]), theirs)


def test_step_keys_are_distinct_and_reproducible():
    key = jax.random.PRNGKey(3)
    keys = np.stack([np.asarray(counter_rng.step_key(key, m)) for m in range(200)])
    assert keys.dtype == np.uint32 and keys.shape == (200, 2)
    assert len({tuple(k) for k in keys}) == 200
    np.testing.assert_array_equal(np.asarray(jax.jit(counter_rng.step_key)(key, 17)), keys[17])
    with jax.enable_x64(True):                   # a 64-bit step count does not wrap at 2^32
        wide = np.asarray(counter_rng.step_key(key, np.int64(17 + 2**32)))
        np.testing.assert_array_equal(np.asarray(counter_rng.step_key(key, np.int64(17))),
                                      keys[17])
    assert tuple(wide) != tuple(keys[17])


@pytest.mark.parametrize("dtype, bits", [(np.float64, 53), (np.float32, 24)])
def test_uniform_is_exact_and_uniform(dtype, bits):
    with jax.enable_x64(dtype == np.float64):
        u = np.asarray(counter_rng.uniform(counter_rng.step_key(jax.random.PRNGKey(5), 9),
                                           200_000, dtype))
    assert u.dtype == dtype
    assert u.min() >= 0.0 and u.max() < 1.0
    scaled = u.astype(np.float64) * 2.0**bits           # every value is k * 2^-bits
    np.testing.assert_array_equal(scaled, np.floor(scaled))
    assert np.unique(u).size > 0.99 * u.size
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # consecutive cells independent (lag-1 correlation)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(u.size)


def test_uniform_rejects_other_dtypes():
    with pytest.raises(ValueError, match="float32 or float64"):
        counter_rng.uniform(jax.random.PRNGKey(0), 4, np.int32)
