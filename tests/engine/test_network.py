"""The engine network: delivery timing, delays, the plastic-synapse path, chunking."""

import brainstate
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.engine import network as engine
from pynn_brainpy.engine.connection_order import order_by_row_then_key
from pynn_brainpy.models.glif_cond import glif_cond


class PassThrough:
    """Synapse dynamics that transmit the weight unchanged: must equal a static synapse."""
    params = {}

    @staticmethod
    def initial_state(weight, n_pre, n_post):
        return {"weight": weight}

    @staticmethod
    def step(state, params, pre, post, pre_idx, post_idx, t, key):
        return state, state["weight"] * pre[pre_idx]


def _network(plastic, seed=3):
    rng = np.random.default_rng(seed)
    pre, post = rng.integers(0, 30, 300), rng.integers(0, 20, 300)
    weight, delay = rng.uniform(1.0, 20.0, 300), rng.integers(1, 12, 300)
    steps = [np.sort(rng.choice(400, 15, replace=False)) for _ in range(30)]
    groups = [engine.SpikeArrayGroup(30, steps), engine.NeuronGroup(glif_cond(20), 20)]
    syn = engine.Synapses(0, 1, "receptor_1", pre, post, weight, delay,
                          PassThrough() if plastic else None)
    net = engine.Network(groups, [syn], [], dt=0.1, seed=seed)
    net.set_probes([engine.Probe(1, "V_m", np.arange(20)), engine.Probe(1, "g_2", np.arange(20))])
    return net


def _run(net, chunks):
    out = []
    for n in chunks:
        net.run(n, lambda m0, k, rec: out.append(np.concatenate(rec, axis=1)))
    return np.concatenate(out)


@pytest.fixture(autouse=True)
def _environment():
    with brainstate.environ.context(dt=0.1, precision=64):
        yield


def test_plastic_path_equals_static_path():
    static, plastic = _run(_network(False), [450]), _run(_network(True), [450])
    assert np.abs(static).max() > 0
    # equal up to the order in which simultaneous weights are summed
    np.testing.assert_allclose(static, plastic, rtol=1e-13, atol=1e-12)


def test_delivery_timing_one_connection():
    """A source spike stamped t reaches the target over D steps: g starts to rise in the step
    that ends at t + (D+1)·dt (the jump is applied at the end of step t/dt - 1 + D)."""
    groups = [engine.SpikeArrayGroup(1, [np.array([9])]),            # spike time 1.0 ms
              engine.NeuronGroup(glif_cond(1), 1)]
    syn = engine.Synapses(0, 1, "receptor_0", np.array([0]), np.array([0]), np.array([5.0]),
                          np.array([7]))
    net = engine.Network(groups, [syn], [], dt=0.1)
    net.set_probes([engine.Probe(1, "g_1", np.array([0]))])
    g = _run(net, [40])[:, 0]
    first = np.flatnonzero(g > 0)[0]          # row r is the state at (r+1)·dt
    assert (first + 1) * 0.1 == pytest.approx(1.0 + 0.7 + 0.1)


def test_chunking_and_reset_do_not_change_results():
    net = _network(False)
    whole = _run(net, [450])
    net.reset()
    assert np.array_equal(_run(net, [100, 37, 313]), whole)


@pytest.mark.parametrize("n_rows, n, top", [(1, 0, 5), (7, 300, 4), (50, 5000, 1 << 31),
                                           (3, 2000, 40)])
def test_block_order_groups_rows_and_sorts_each_row_by_key_stably(n_rows, n, top):
    """Rows grouped, each row's keys increasing, equal keys in their given order: NumPy's
    lexsort (stable) of (key, row)."""
    rng = np.random.default_rng(n)
    rows, keys = rng.integers(0, n_rows, n), rng.integers(0, top, n)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    order, ordered = order_by_row_then_key(rows, keys, indptr.astype(np.int32))
    expected = np.lexsort((keys, rows))
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(ordered, keys[expected])


def test_static_block_rows_hold_the_lower_columns_first_each_part_in_increasing_positions():
    net = _network(False)
    block, width = net._block, net._ring_width
    columns = block.indices % width
    assert 0 < np.mean(columns < block.split) < 1
    for r in range(block.indptr.size - 1):
        row = block.indices[block.indptr[r]:block.indptr[r + 1]]
        upper = row % width >= block.split
        assert np.all(np.diff(upper.astype(int)) >= 0)
        for part in (row[~upper], row[upper]):
            assert np.all(np.diff(part) >= 0)


@pytest.mark.parametrize("lam", [0.002, 0.3, 2.5, 15.0, 60.0, 400.0, 1e4])
@pytest.mark.parametrize("mixed", [False, True])
def test_poisson_counts_follow_the_poisson_distribution(lam, mixed):
    """The CDF-inversion sampler (and the transformed rejection above a mean of 10) against
    the pmf; ``mixed``: every other cell has a mean of 30 (above 10) or 0.5 (below), so
    that a step takes the other sampler for those."""
    import jax
    from scipy import stats
    n = 200_000
    means = np.full(2 * n if mixed else n, lam)
    if mixed:
        means[1::2] = 0.5 if lam > 10.0 else 30.0
    counts = np.asarray(engine._poisson_counts(jax.random.PRNGKey(7), jnp.asarray(means)))
    if mixed:
        other, counts = counts[1::2], counts[::2]
        assert abs(other.mean() - means[1]) < 5 * np.sqrt(means[1] / n)
    assert counts.min() >= 0
    k = np.arange(counts.max() + 1)
    observed = np.bincount(counts, minlength=k.size)
    expected = stats.poisson.pmf(k, lam) * n
    keep = expected > 5                                  # chi-square on well-filled bins
    chi2 = (((observed - expected) ** 2 / expected)[keep]).sum()
    assert stats.chi2.sf(chi2, max(keep.sum() - 1, 1)) > 1e-3
    assert abs(counts.mean() - lam) < 5 * np.sqrt(lam / n)


def test_a_large_mean_count_depends_on_the_step_and_the_cell_only():
    """A cell above a mean of 10 draws under the step's key with its own counter in each
    rejection round: its count does not change with the other cells' means."""
    import jax
    key = jax.random.PRNGKey(3)
    means = np.linspace(11.0, 500.0, 1000)
    alone = np.asarray(engine._poisson_counts(key, jnp.asarray(means)))
    means[::3] = 0.2
    among = np.asarray(engine._poisson_counts(key, jnp.asarray(means)))
    np.testing.assert_array_equal(among[means > 10.0], alone[means > 10.0])
    assert not np.array_equal(among, np.asarray(engine._poisson_counts(
        jax.random.PRNGKey(4), jnp.asarray(means))))


@pytest.mark.parametrize("lam", [0.002, 0.05, 0.7, 4.0])
def test_poisson_counts_are_the_inversion_of_the_steps_uniforms(lam):
    """Whichever branch a step takes (every count 0 or 1, or the loop), the counts are the
    CDF inversion of the step's uniforms (counter_rng.uniform under its key), in the same
    arithmetic: here written out cell by cell."""
    import jax
    from pynn_brainpy.engine import counter_rng
    with jax.enable_x64(True):
        for m in range(40):
            key = counter_rng.step_key(jax.random.PRNGKey(11), m)
            lam_ = jnp.full(500, lam)
            counts = np.asarray(jax.jit(engine._poisson_counts)(key, lam_))
            u = np.asarray(counter_rng.uniform(key, 500, np.float64))
            p0 = float(jnp.exp(-lam_)[0])
            expected = []
            for ui in u:
                k, p, F = 0, p0, p0
                while ui > F and k < 100:
                    k += 1
                    p = p * lam / k
                    F = F + p
                expected.append(k)
            np.testing.assert_array_equal(counts, expected)


def test_repeated_source_spikes_are_all_delivered():
    """Two spikes of one source cell in the same step (duplicate times) act twice, as NEST's
    spike_generator delivers both: the same as one spike of twice the weight."""
    traces = []
    for steps, weight in (([9, 9], 5.0), ([9], 10.0), ([9], 5.0)):
        groups = [engine.SpikeArrayGroup(1, [np.array(steps)]),
                  engine.NeuronGroup(glif_cond(1), 1)]
        syn = engine.Synapses(0, 1, "receptor_0", np.array([0]), np.array([0]),
                              np.array([weight]), np.array([1]))
        net = engine.Network(groups, [syn], [], dt=0.1)
        net.set_probes([engine.Probe(1, "g_1", np.array([0]))])
        traces.append(_run(net, [60])[:, 0])
    np.testing.assert_array_equal(traces[0], traces[1])
    assert traces[0].max() > 1.9 * traces[2].max()


def test_spike_events_compacted_on_the_device_equal_numpy():
    """The GPU path of the spike hand-over (compaction before the copy) gives NumPy's events."""
    from pynn_brainpy.engine.network import _compact_on_device
    rng = np.random.default_rng(5)
    for shape, p in [((64, 300), 0.02), ((7, 5), 0.0), ((16, 40), 1.0), ((33, 9), 0.3)]:
        buffer = rng.random(shape) < p
        rows, cols = _compact_on_device(jnp.asarray(buffer))
        expected = np.nonzero(buffer)
        np.testing.assert_array_equal(rows, expected[0])
        np.testing.assert_array_equal(cols, expected[1])


def test_gathered_product_in_a_network_equals_the_cpu_handler(monkeypatch):
    """The accelerators' product, forced on the CPU, runs the same network to the same traces
    (up to the order of summation)."""
    from pynn_brainpy.engine import event_product as ep
    reference = _run(_network(False), [450])
    monkeypatch.setattr(ep, "_on_accelerator", lambda: True)
    gathered = _run(_network(False), [450])
    np.testing.assert_allclose(gathered, reference, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (7, 13), (64, 4000), (5, 3)])
@pytest.mark.parametrize("density", [0.0, 0.003, 0.5, 1.0])
def test_sparse_nonzero_is_numpys_nonzero(shape, density):
    mask = np.random.default_rng(shape[0] * 31 + shape[1]).random(shape) < density
    got = engine.sparse_nonzero(mask)
    want = np.nonzero(mask)
    assert all(np.array_equal(g, w) and g.dtype.kind == "i" for g, w in zip(got, want))


def _source_events(group, steps):
    """The recorded (step, cell) spike events of a source group alone."""
    net = engine.Network([group], [], [], dt=0.1)
    net.set_probes([engine.Probe(0, "spikes", np.arange(group.size))])
    events = []
    net.run(steps, lambda m0, k, rec: events.append((rec[0][0] + m0, rec[0][1])))
    return np.concatenate([e[0] for e in events]), np.concatenate([e[1] for e in events])


def test_a_source_firing_twice_in_a_step_is_recorded_twice():
    """As NEST records a spike of multiplicity 2 twice (spike_recorder after a parrot)."""
    rows, cols = _source_events(engine.SpikeArrayGroup(2, [np.array([9, 9, 12]),
                                                           np.array([3])]), 20)
    assert sorted(zip(rows.tolist(), cols.tolist())) == [(3, 1), (9, 0), (9, 0), (12, 0)]


def test_recorded_poisson_events_hold_every_spike():
    """Mean 0.5 spikes per cell and step: many cell-steps with 2 or more, each recorded as
    that many events; the recorded mean is the drawn one."""
    group = engine.PoissonGroup(300, rate=5000.0, start=0.0, stop=1e9, dt=0.1)
    rows, cols = _source_events(group, 400)
    assert abs(rows.size / (300 * 400) - 0.5) < 0.01
    _, repeats = np.unique(np.stack([rows, cols]), axis=1, return_counts=True)
    assert repeats.max() >= 3


def test_more_spikes_per_step_than_recording_holds_is_an_error():
    with pytest.raises(RuntimeError, match="more than 255 spikes in one step"):
        _source_events(engine.SpikeArrayGroup(1, [np.full(256, 5)]), 10)
