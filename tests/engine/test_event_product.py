"""``engine.event_product``: the native CPU delivery, the plain-XLA and brainevent products,
against dense products."""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.engine import event_product as ep


def random_csr(rng, n_rows, n_cols, max_row):
    lengths = rng.integers(0, max_row + 1, n_rows)
    lengths[::7] = 0                                   # some rows send nowhere
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    indices = rng.integers(0, n_cols, indptr[-1]).astype(np.int32)   # repeats allowed
    weights = rng.normal(0.0, 1.0, indptr[-1])
    return weights, indices, indptr


def dense(weights, indices, indptr, n_cols):
    W = np.zeros((indptr.size - 1, n_cols))
    for i in range(indptr.size - 1):
        for j in range(indptr[i], indptr[i + 1]):
            W[i, indices[j]] += weights[j]
    return W


@pytest.mark.parametrize("precision, dtype, rtol", [(64, np.float64, 1e-12),
                                                    (32, np.float32, 1e-5)])
def test_product_matches_dense(precision, dtype, rtol):
    """The CPU fallback product (brainevent's, one binary product per multiplicity level)."""
    with brainstate.environ.context(precision=precision):
        rng = np.random.default_rng(4)
        n_rows, n_cols = 300, 517
        weights, indices, indptr = random_csr(rng, n_rows, n_cols, 40)
        W = dense(weights, indices, indptr, n_cols)
        for repeats in (True, False):
            product = jax.jit(lambda c, w, i: ep._brainevent_product(c, w, i, indptr,
                                                                     n_cols, repeats))
            for trial in range(4):
                # counts 0..3: mostly silent, some repeated spikes (Poisson sources)
                counts = rng.choice(4, n_rows, p=[0.9, 0.07, 0.02, 0.01]).astype(dtype)
                if trial == 0:
                    counts[:] = 0
                if not repeats:                       # neurons: 0 or 1
                    counts = np.minimum(counts, 1)
                out = product(jnp.asarray(counts), jnp.asarray(weights, dtype),
                              jnp.asarray(indices))
                assert out.dtype == dtype and out.shape == (n_cols,)
                np.testing.assert_allclose(out, counts.astype(np.float64) @ W, rtol=rtol,
                                           atol=rtol * np.abs(W).sum(0).max() * 3)


@pytest.mark.parametrize("batch", [None, 1, 7, 64])
def test_gathered_product_matches_dense(batch):
    """The accelerator product: any batch size (one event per batch up to all at once) gives
    counts @ W, repeated spikes included."""
    with brainstate.environ.context(precision=64):
        rng = np.random.default_rng(6)
        n_rows, n_cols = 250, 333
        weights, indices, indptr = random_csr(rng, n_rows, n_cols, 30)
        W = dense(weights, indices, indptr, n_cols)
        product = jax.jit(lambda c, w, i: ep.gathered_product(c, w, i, indptr, n_cols, batch))
        for p_silent in (1.0, 0.9, 0.0):
            counts = rng.choice(4, n_rows, p=[p_silent, *np.full(3, (1 - p_silent) / 3)])
            out = product(jnp.asarray(counts, jnp.float64), jnp.asarray(weights),
                          jnp.asarray(indices))
            np.testing.assert_allclose(out, counts @ W, rtol=1e-12, atol=1e-12)
        empty = np.zeros(n_rows + 1, np.int32)
        assert np.all(ep.gathered_product(jnp.ones(n_rows), jnp.zeros(0), jnp.zeros(0, jnp.int32),
                                          empty, n_cols) == 0)


@pytest.mark.parametrize("precision, dtype", [(64, np.float64), (32, np.float32)])
def test_delivery_into_the_ring_native_equals_plain_xla(precision, dtype, monkeypatch):
    """Spikes added straight into the ring buffer (CPU handler, in place; the gathered
    product's scatter) or the product added to the rotated ring, and the next row taken out:
    all give, step after step, what a dense product says."""
    with brainstate.environ.context(precision=precision):
        assert ep.native_available(dtype)
        rng = np.random.default_rng(7)
        n_rows, n_targets, n_slots, steps = 120, 50, 6, 40
        delays = rng.choice([1, 3, 5], 4000)
        targets = rng.integers(0, n_targets, 4000)
        rows = np.sort(rng.integers(0, n_rows, 4000))
        positions = (delays * n_targets + targets).astype(np.int32)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]
                                ).astype(np.int32)
        weights = rng.normal(0.0, 1.0, 4000)
        counts = jnp.asarray(rng.choice(3, (steps, n_rows), p=[0.9, 0.08, 0.02]), dtype)
        w, pos = jnp.asarray(weights, dtype), jnp.asarray(positions)

        def run():
            def body(ring, x):
                m, c = x
                return ep.deliver_into_ring(c, w, pos, indptr, m, ring, n_slots)
            return jax.jit(lambda cs: jax.lax.scan(
                body, jnp.zeros(n_slots * n_targets, dtype),
                (jnp.arange(steps, dtype=jnp.int32), cs)))(counts)

        native = run()
        monkeypatch.setattr(ep, "_on_accelerator", lambda: True)
        plain = run()                              # gathered product into the ring
        monkeypatch.setattr(ep, "_ACCELERATOR_PRODUCT", "brainevent")
        rotated = run()                            # brainevent's product, rotated and added
        # what arrives at the end of step m + 1: the spikes of steps m + 1 - D
        expected = np.zeros((steps, n_targets))
        c64 = np.asarray(counts, np.float64)
        for m in range(steps):
            for r, d, t, wt in zip(rows, delays, targets, weights):
                if m + 1 - d >= 0:
                    expected[m, t] += c64[m + 1 - d, r] * wt
        rtol = 1e-12 if dtype == np.float64 else 2e-5
        for ring, arriving in (native, plain, rotated):
            np.testing.assert_allclose(arriving, expected, rtol=rtol, atol=rtol * 50)
            np.testing.assert_allclose(ring, native[0], rtol=rtol, atol=rtol * 50)
