"""Tests of the vectorised connection builder (pynn_brainpy.connectivity).

Real PyNN populations and projections come from PyNN's ``mock`` backend,
whose projections are built by PyNN's own connector loops: for the
deterministic connectors, and for the probability-based ones (which draw
their random numbers in PyNN's order), the result must equal PyNN's.
"""

import numpy as np
import pytest

import pyNN.mock as sim
from pyNN import errors
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, Line, Space

from pynn_brainpy import connectivity
from pynn_brainpy.connectivity import build_connections, pair_distances


@pytest.fixture(scope="module", autouse=True)
def _setup_mock():
    sim.setup(timestep=0.1, min_delay=0.1)
    yield
    sim.end()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def population(n, structure=None):
    kw = {"structure": structure} if structure is not None else {}
    return sim.Population(n, sim.IF_cond_exp(), **kw)


def empty_projection(pre, post, synapse=None, space=None):
    """A real (mock) Projection whose own connector makes no connection."""
    synapse = synapse or sim.StaticSynapse(weight=0.5, delay=1.0)
    return sim.Projection(pre, post, sim.FromListConnector([]), synapse,
                          space=space or Space())


def build(connector, pre, post, synapse=None, space=None):
    prj = empty_projection(pre, post, synapse, space)
    result = build_connections(connector, prj)
    assert result is not None
    pre_idx, post_idx, params = result
    assert pre_idx.dtype == np.int64 and post_idx.dtype == np.int64
    assert pre_idx.shape == post_idx.shape
    for values in params.values():
        assert values.dtype == np.float64 and values.shape == pre_idx.shape
    # ordered by post index, then pre index
    key = post_idx * max(pre.size, 1) + pre_idx
    assert np.all(np.diff(key) >= 0)
    if pre_idx.size:
        assert 0 <= pre_idx.min() and pre_idx.max() < pre.size
        assert 0 <= post_idx.min() and post_idx.max() < post.size
    return pre_idx, post_idx, params


def pynn_reference(connector, pre, post, synapse, space=None):
    """Connections made by PyNN's own loop (mock backend), as sorted rows."""
    prj = sim.Projection(pre, post, connector, synapse, space=space or Space())
    rows = sorted((c.postsynaptic_index, c.presynaptic_index, c.WEIGHT, c.DELAY)
                  for c in prj.connections)
    return np.array(rows, dtype=float).reshape(-1, 4)


def as_rows(pre_idx, post_idx, params):
    return np.column_stack([post_idx, pre_idx, params["weight"], params["delay"]])


def assert_same_as_pynn(make_connector, pre, post, make_synapse, space=None):
    expected = pynn_reference(make_connector(), pre, post, make_synapse(), space)
    got = as_rows(*build(make_connector(), pre, post, make_synapse(), space))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got[:, :2], expected[:, :2])
    np.testing.assert_allclose(got[:, 2:], expected[:, 2:], rtol=1e-12)


def pairs(pre_idx, post_idx):
    return list(zip(pre_idx.tolist(), post_idx.tolist()))


# ---------------------------------------------------------------------------
# AllToAll, OneToOne, Array
# ---------------------------------------------------------------------------

def test_all_to_all_matches_pynn():
    p, q = population(7), population(5)
    assert_same_as_pynn(sim.AllToAllConnector, p, q,
                        lambda: sim.StaticSynapse(weight=0.2, delay=1.5))


def test_all_to_all_same_population_with_and_without_self():
    p = population(6)
    pre, post, params = build(sim.AllToAllConnector(), p, p)
    assert pre.size == 36
    assert set(pairs(pre, post)) == {(i, j) for i in range(6) for j in range(6)}
    pre, post, params = build(sim.AllToAllConnector(allow_self_connections=False), p, p)
    assert pre.size == 30
    assert not np.any(pre == post)
    np.testing.assert_array_equal(params["weight"], 0.5)
    np.testing.assert_array_equal(params["delay"], 1.0)
    assert_same_as_pynn(lambda: sim.AllToAllConnector(allow_self_connections=False), p, p,
                        lambda: sim.StaticSynapse(weight=0.2, delay=1.5))


def test_all_to_all_no_self_uses_cell_ids_across_views():
    p = population(10)
    view = p[4:8]
    pre, post, _ = build(sim.AllToAllConnector(allow_self_connections=False), p, view)
    assert pre.size == 10 * 4 - 4
    ids_pre = np.asarray(p.all_cells)[pre]
    ids_post = np.asarray(view.all_cells)[post]
    assert not np.any(ids_pre == ids_post)


def test_all_to_all_assembly():
    a, b = population(3), population(4)
    asm = sim.Assembly(a, b)
    pre, post, _ = build(sim.AllToAllConnector(allow_self_connections=False), asm, b)
    assert pre.size == 7 * 4 - 4


def test_one_element_projection():
    p = population(1)
    pre, post, params = build(sim.AllToAllConnector(), p, p)
    assert pairs(pre, post) == [(0, 0)]
    pre, post, _ = build(sim.AllToAllConnector(allow_self_connections=False), p, p)
    assert pre.size == 0
    pre, post, _ = build(sim.OneToOneConnector(), p, p)
    assert pairs(pre, post) == [(0, 0)]


def test_one_to_one_matches_pynn():
    p, q = population(9), population(9)
    pre, post, _ = build(sim.OneToOneConnector(), p, q)
    np.testing.assert_array_equal(pre, np.arange(9))
    np.testing.assert_array_equal(post, np.arange(9))
    assert_same_as_pynn(sim.OneToOneConnector, p, q,
                        lambda: sim.StaticSynapse(
                            weight=RandomDistribution("normal", (1.0, 0.1), rng=NumpyRNG(2)),
                            delay=0.5))


def test_array_connector_matches_pynn():
    p, q = population(8), population(6)
    mask = np.random.RandomState(4).rand(8, 6) < 0.4
    pre, post, _ = build(sim.ArrayConnector(mask), p, q)
    np.testing.assert_array_equal(np.zeros((8, 6), bool).__or__(
        np.isin(np.arange(48).reshape(8, 6), pre * 6 + post)), mask)
    assert_same_as_pynn(lambda: sim.ArrayConnector(mask), p, q,
                        lambda: sim.StaticSynapse(weight=0.1, delay=1.0))


def test_array_connector_wrong_shape():
    p, q = population(3), population(4)
    with pytest.raises(errors.InvalidDimensionsError):
        build_connections(sim.ArrayConnector(np.ones((4, 3), bool)), empty_projection(p, q))


# ---------------------------------------------------------------------------
# FixedProbability
# ---------------------------------------------------------------------------

def test_fixed_probability_matches_pynn_for_same_seed():
    p, q = population(40), population(30)
    assert_same_as_pynn(lambda: sim.FixedProbabilityConnector(0.2, rng=NumpyRNG(11)), p, q,
                        lambda: sim.StaticSynapse(
                            weight=RandomDistribution("uniform", (0.0, 1.0), rng=NumpyRNG(5)),
                            delay=1.0))
    assert_same_as_pynn(lambda: sim.FixedProbabilityConnector(
                            0.3, allow_self_connections=False, rng=NumpyRNG(12)), p, p,
                        lambda: sim.StaticSynapse(weight=0.1, delay=1.0))
    assert_same_as_pynn(lambda: sim.FixedProbabilityConnector(
                            0.6, allow_self_connections="NoMutual", rng=NumpyRNG(13)), p, p,
                        lambda: sim.StaticSynapse(weight=0.1, delay=1.0))


def test_fixed_probability_statistics_and_reproducibility():
    p, q = population(200), population(150)
    prob = 0.1
    pre, post, _ = build(sim.FixedProbabilityConnector(prob, rng=NumpyRNG(21)), p, q)
    n_pairs = 200 * 150
    sd = np.sqrt(n_pairs * prob * (1 - prob))
    assert abs(pre.size - n_pairs * prob) < 5 * sd
    assert len(set(pairs(pre, post))) == pre.size  # never a duplicate
    pre2, post2, _ = build(sim.FixedProbabilityConnector(prob, rng=NumpyRNG(21)), p, q)
    np.testing.assert_array_equal(pre, pre2)
    np.testing.assert_array_equal(post, post2)
    pre3, _, _ = build(sim.FixedProbabilityConnector(prob, rng=NumpyRNG(22)), p, q)
    assert pre3.size != pre.size or not np.array_equal(pre3, pre)


def test_fixed_probability_edge_cases():
    p = population(12)
    pre, _, _ = build(sim.FixedProbabilityConnector(0.0, rng=NumpyRNG(1)), p, p)
    assert pre.size == 0
    pre, _, _ = build(sim.FixedProbabilityConnector(1.0, rng=NumpyRNG(1)), p, p)
    assert pre.size == 144
    pre, post, _ = build(sim.FixedProbabilityConnector(
        1.0, allow_self_connections=False, rng=NumpyRNG(1)), p, p)
    assert pre.size == 132 and not np.any(pre == post)
    pre, post, _ = build(sim.FixedProbabilityConnector(
        1.0, allow_self_connections="NoMutual", rng=NumpyRNG(1)), p, p)
    assert pre.size == 66 and np.all(pre > post)


def test_fixed_probability_sparse_path(monkeypatch):
    monkeypatch.setattr(connectivity, "_SPARSE_MIN_PAIRS", 1000)
    p = population(300)
    prob = 0.05
    conn = sim.FixedProbabilityConnector(prob, allow_self_connections=False,
                                         rng=NumpyRNG(31))
    pre, post, _ = build(conn, p, p)
    assert not np.any(pre == post)
    assert len(set(pairs(pre, post))) == pre.size
    expected = 300 * 299 * prob
    assert abs(pre.size - expected) < 5 * np.sqrt(expected)
    # roughly uniform over pre and post cells
    assert abs(np.mean(pre) - 149.5) < 5 and abs(np.mean(post) - 149.5) < 5
    pre2, post2, _ = build(sim.FixedProbabilityConnector(
        prob, allow_self_connections=False, rng=NumpyRNG(31)), p, p)
    np.testing.assert_array_equal(pre, pre2)
    np.testing.assert_array_equal(post, post2)


# ---------------------------------------------------------------------------
# FixedNumberPre / FixedNumberPost
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 20, 45])  # sparse rows, dense rows, n == allowed
def test_fixed_number_pre_without_replacement(n):
    p = population(46)
    pre, post, _ = build(sim.FixedNumberPreConnector(
        n, allow_self_connections=False, rng=NumpyRNG(41)), p, p)
    np.testing.assert_array_equal(np.bincount(post, minlength=46), n)
    assert len(set(pairs(pre, post))) == pre.size
    assert not np.any(pre == post)


def test_fixed_number_pre_more_than_available_without_replacement():
    p, q = population(10), population(7)
    pre, post, _ = build(sim.FixedNumberPreConnector(23, rng=NumpyRNG(42)), p, q)
    np.testing.assert_array_equal(np.bincount(post, minlength=7), 23)
    for j in range(7):
        counts = np.bincount(pre[post == j], minlength=10)
        # every pre cell twice, 3 of them a third time
        assert sorted(counts.tolist()) == [2] * 7 + [3] * 3
    # same population, no self-connections: 9 allowed partners
    pre, post, _ = build(sim.FixedNumberPreConnector(
        20, allow_self_connections=False, rng=NumpyRNG(43)), p, p)
    assert not np.any(pre == post)
    for j in range(10):
        counts = np.bincount(pre[post == j], minlength=10)
        assert counts[j] == 0
        assert sorted(np.delete(counts, j).tolist()) == [2] * 7 + [3] * 2


def test_fixed_number_pre_with_replacement_and_statistics():
    p, q = population(50), population(400)
    pre, post, _ = build(sim.FixedNumberPreConnector(
        30, with_replacement=True, rng=NumpyRNG(44)), p, q)
    np.testing.assert_array_equal(np.bincount(post, minlength=400), 30)
    # 12000 draws over 50 cells: chi-square test of uniformity (49 dof)
    counts = np.bincount(pre, minlength=50)
    chi2 = np.sum((counts - 240.0) ** 2 / 240.0)
    assert chi2 < 100
    # duplicates do occur with replacement (30 of 50 per cell)
    assert len(set(pairs(pre, post))) < pre.size
    pre, post, _ = build(sim.FixedNumberPreConnector(
        30, with_replacement=True, allow_self_connections=False, rng=NumpyRNG(45)), p, p)
    np.testing.assert_array_equal(np.bincount(post, minlength=50), 30)
    assert not np.any(pre == post)


def test_fixed_number_pre_without_replacement_is_uniform():
    p, q = population(20), population(2000)
    pre, post, _ = build(sim.FixedNumberPreConnector(4, rng=NumpyRNG(46)), p, q)
    counts = np.bincount(pre, minlength=20)  # expected 400 each
    chi2 = np.sum((counts - 400.0) ** 2 / 400.0)
    assert chi2 < 50  # 19 dof
    pre, post, _ = build(sim.FixedNumberPreConnector(12, rng=NumpyRNG(47)), p, q)
    counts = np.bincount(pre, minlength=20)  # dense rows, expected 1200 each
    chi2 = np.sum((counts - 1200.0) ** 2 / 1200.0)
    assert chi2 < 50


def test_fixed_number_pre_random_n_and_reproducibility():
    p, q = population(30), population(25)
    n = RandomDistribution("uniform_int", (2, 9), rng=NumpyRNG(48))
    pre, post, _ = build(sim.FixedNumberPreConnector(n, rng=NumpyRNG(49)), p, q)
    # the connector drew 100 values of n in its constructor's sanity check
    check = NumpyRNG(48)
    check.next(100, "uniform_int", {"low": 2, "high": 9})
    expected = check.next(25, "uniform_int", {"low": 2, "high": 9})
    np.testing.assert_array_equal(np.bincount(post, minlength=25), expected)
    conn_a = sim.FixedNumberPreConnector(5, rng=NumpyRNG(50))
    conn_b = sim.FixedNumberPreConnector(5, rng=NumpyRNG(50))
    a = build(conn_a, p, q)
    b = build(conn_b, p, q)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("n", [2, 9])
def test_fixed_number_post(n):
    p = population(12)
    pre, post, _ = build(sim.FixedNumberPostConnector(
        n, allow_self_connections=False, rng=NumpyRNG(51)), p, p)
    np.testing.assert_array_equal(np.bincount(pre, minlength=12), n)
    assert len(set(pairs(pre, post))) == pre.size
    assert not np.any(pre == post)
    q = population(5)
    pre, post, _ = build(sim.FixedNumberPostConnector(
        n, with_replacement=True, rng=NumpyRNG(52)), p, q)
    np.testing.assert_array_equal(np.bincount(pre, minlength=12), n)


def test_fixed_number_post_more_than_available():
    p, q = population(4), population(3)
    pre, post, _ = build(sim.FixedNumberPostConnector(7, rng=NumpyRNG(53)), p, q)
    for i in range(4):
        assert sorted(np.bincount(post[pre == i], minlength=3).tolist()) == [2, 2, 3]


def test_fixed_number_impossible_without_partner():
    p = population(1)
    with pytest.raises(errors.ConnectionError):
        build_connections(sim.FixedNumberPreConnector(
            1, allow_self_connections=False, rng=NumpyRNG(1)), empty_projection(p, p))


# ---------------------------------------------------------------------------
# FixedTotalNumber
# ---------------------------------------------------------------------------

def test_fixed_total_number():
    p, q = population(20), population(15)
    pre, post, _ = build(sim.FixedTotalNumberConnector(123, rng=NumpyRNG(61)), p, q)
    assert pre.size == 123
    pre, post, _ = build(sim.FixedTotalNumberConnector(
        250, with_replacement=False, rng=NumpyRNG(62)), p, q)
    assert pre.size == 250 and len(set(pairs(pre, post))) == 250
    pre, post, _ = build(sim.FixedTotalNumberConnector(
        380, with_replacement=False, allow_self_connections=False, rng=NumpyRNG(63)), p, p)
    assert pre.size == 380 and len(set(pairs(pre, post))) == 380
    assert not np.any(pre == post)
    pre, post, _ = build(sim.FixedTotalNumberConnector(
        2000, allow_self_connections=False, rng=NumpyRNG(64)), p, p)
    assert pre.size == 2000 and not np.any(pre == post)
    a = build(sim.FixedTotalNumberConnector(50, rng=NumpyRNG(65)), p, q)
    b = build(sim.FixedTotalNumberConnector(50, rng=NumpyRNG(65)), p, q)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_fixed_total_number_too_many_without_replacement():
    p = population(3)
    with pytest.raises(errors.ConnectionError):
        build_connections(sim.FixedTotalNumberConnector(
            7, with_replacement=False, allow_self_connections=False, rng=NumpyRNG(1)),
            empty_projection(p, p))


# ---------------------------------------------------------------------------
# Distance-dependent and index-based probability
# ---------------------------------------------------------------------------

def test_distance_dependent_against_numpy_reference():
    p = population(49, Grid2D(dx=10.0, dy=10.0))
    q = population(36, Grid2D(dx=15.0, dy=15.0, x0=3.0))
    space = Space(axes="xy")
    pre, post, params = build(sim.DistanceDependentProbabilityConnector(
        "exp(-d/30.0)", allow_self_connections=False, rng=NumpyRNG(71)), p, q,
        sim.StaticSynapse(weight=0.1, delay="0.2 + 0.01*d"), space)
    a, b = p.positions, q.positions
    d = np.sqrt((a[0][:, None] - b[0][None, :]) ** 2 + (a[1][:, None] - b[1][None, :]) ** 2)
    u = NumpyRNG(71).next(49 * 36, "uniform", {"low": 0.0, "high": 1.0}).reshape(36, 49).T
    ref_post, ref_pre = np.nonzero((u < np.exp(-d / 30.0)).T)
    np.testing.assert_array_equal(pre, ref_pre)
    np.testing.assert_array_equal(post, ref_post)
    np.testing.assert_allclose(params["delay"], 0.2 + 0.01 * d[pre, post], rtol=1e-12)
    assert_same_as_pynn(lambda: sim.DistanceDependentProbabilityConnector(
                            "d < 25", rng=NumpyRNG(72)), p, q,
                        lambda: sim.StaticSynapse(weight=0.1, delay="0.2 + 0.01*d"), space)


def test_distance_dependent_same_population():
    p = population(30, Line(dx=1.0))
    pre, post, _ = build(sim.DistanceDependentProbabilityConnector(
        "d < 2.5", allow_self_connections=False, rng=NumpyRNG(73)), p, p)
    expected = {(i, j) for i in range(30) for j in range(30) if 0 < abs(i - j) < 2.5}
    assert set(pairs(pre, post)) == expected


def test_displacement_dependent_matches_pynn():
    p = population(25, Grid2D(dx=1.0, dy=1.0))
    assert_same_as_pynn(lambda: sim.DisplacementDependentProbabilityConnector(
                            lambda d: np.exp(-np.abs(d[0])) * (np.abs(d[1]) < 2),
                            allow_self_connections=False, rng=NumpyRNG(74)), p, p,
                        lambda: sim.StaticSynapse(weight=0.3, delay=1.0))


# ---------------------------------------------------------------------------
# FromList
# ---------------------------------------------------------------------------

def test_from_list_with_weights_and_delays():
    p, q = population(5), population(4)
    conn_list = [(4, 1, 0.4, 1.4), (0, 3, 0.1, 1.1), (2, 1, 0.2, 1.2), (0, 1, 0.3, 1.3),
                 (2, 1, 0.5, 1.5)]
    pre, post, params = build(sim.FromListConnector(conn_list), p, q)
    np.testing.assert_array_equal(post, [1, 1, 1, 1, 3])
    np.testing.assert_array_equal(pre, [0, 2, 2, 4, 0])
    np.testing.assert_allclose(params["weight"], [0.3, 0.2, 0.5, 0.4, 0.1])
    np.testing.assert_allclose(params["delay"], [1.3, 1.2, 1.5, 1.4, 1.1])
    assert_same_as_pynn(lambda: sim.FromListConnector(conn_list), p, q,
                        lambda: sim.StaticSynapse(weight=9.0, delay=9.0))


def test_from_list_columns_override_synapse_type():
    p, q = population(5), population(4)
    synapse = sim.TsodyksMarkramSynapse(weight=0.7, delay=2.0, U=0.3, tau_rec=100.0)
    conn_list = [(1, 2, 0.05, 0.6), (3, 0, 0.02, 0.1)]
    pre, post, params = build(sim.FromListConnector(conn_list, column_names=["weight", "U"]),
                              p, q, synapse)
    np.testing.assert_array_equal(pre, [3, 1])
    np.testing.assert_array_equal(post, [0, 2])
    np.testing.assert_allclose(params["weight"], [0.02, 0.05])
    np.testing.assert_allclose(params["U"], [0.1, 0.6])
    np.testing.assert_allclose(params["delay"], 2.0)
    np.testing.assert_allclose(params["tau_rec"], 100.0)
    assert set(params) == set(synapse.parameter_space.keys())


def test_from_list_errors_and_empty():
    p, q = population(3), population(3)
    prj = empty_projection(p, q)
    with pytest.raises(errors.ConnectionError):
        build_connections(sim.FromListConnector([(3, 0)]), prj)
    with pytest.raises(errors.ConnectionError):
        build_connections(sim.FromListConnector([(0, 5)]), prj)
    with pytest.raises(ValueError):
        build_connections(sim.FromListConnector([(0, 1, 0.5)], column_names=["foo"]), prj)
    pre, post, params = build(sim.FromListConnector([]), p, q)
    assert pre.size == 0 and params["weight"].size == 0


# ---------------------------------------------------------------------------
# synapse parameter evaluation
# ---------------------------------------------------------------------------

def test_parameter_scalar_and_random_distribution():
    p, q = population(6), population(4)
    synapse = sim.StaticSynapse(
        weight=RandomDistribution("normal", (0.5, 0.1), rng=NumpyRNG(81)), delay=1.25)
    pre, post, params = build(sim.AllToAllConnector(), p, q, synapse)
    np.testing.assert_array_equal(params["delay"], 1.25)
    expected = NumpyRNG(81).next(24, "normal", {"mu": 0.5, "sigma": 0.1})
    np.testing.assert_allclose(params["weight"], expected)  # drawn in post-major order


def test_parameter_array_indexed_by_pairs():
    p, q = population(6), population(4)
    w = np.arange(24, dtype=float).reshape(6, 4) / 100.0
    pre, post, params = build(sim.FixedProbabilityConnector(0.5, rng=NumpyRNG(82)), p, q,
                              sim.StaticSynapse(weight=w, delay=1.0))
    np.testing.assert_allclose(params["weight"], w[pre, post])


def test_parameter_distance_expression_and_callable():
    p = population(10, Line(dx=2.0))
    q = population(8, Line(dx=3.0, y=4.0))
    synapse = sim.StaticSynapse(weight=lambda d: 1.0 / (1.0 + d), delay="0.1 + 0.01*d")
    pre, post, params = build(sim.AllToAllConnector(), p, q, synapse)
    d = np.hypot(p.positions[0][pre] - q.positions[0][post], 4.0)
    np.testing.assert_allclose(params["delay"], 0.1 + 0.01 * d, rtol=1e-12)
    np.testing.assert_allclose(params["weight"], 1.0 / (1.0 + d), rtol=1e-12)


def test_pair_distances_matches_space_distances():
    rs = np.random.RandomState(5)
    a = rs.uniform(0, 100, (3, 9))
    b = rs.uniform(0, 100, (3, 7))
    for space in (Space(), Space(axes="xz", scale_factor=0.5, offset=3.0),
                  Space(periodic_boundaries=((0, 100), (0, 100), None))):
        full = space.distances(a.T, b.T).reshape(9, 7)
        i, j = np.meshgrid(np.arange(9), np.arange(7), indexing="ij")
        got = pair_distances(space, a, b, i.ravel(), j.ravel())
        np.testing.assert_allclose(got, full.ravel(), rtol=1e-12)


def test_stdp_synapse_parameters():
    p, q = population(3), population(2)
    synapse = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=15.0),
                                weight_dependence=sim.AdditiveWeightDependence(w_max=0.05),
                                weight=0.01, delay=0.5)
    _, _, params = build(sim.AllToAllConnector(), p, q, synapse)
    assert set(params) == set(synapse.parameter_space.keys())
    np.testing.assert_allclose(params["tau_plus"], 15.0)
    np.testing.assert_allclose(params["w_max"], 0.05)


# ---------------------------------------------------------------------------
# unsupported cases and the minimal projection interface
# ---------------------------------------------------------------------------

def test_unsupported_connectors_return_none():
    p = population(5)
    reference = sim.Projection(p, p, sim.AllToAllConnector(),
                               sim.StaticSynapse(weight=0.1, delay=1.0))
    prj = empty_projection(p, p)
    assert build_connections(sim.CloneConnector(reference), prj) is None
    assert build_connections(sim.FixedNumberPreConnector(
        2, allow_self_connections="NoMutual", rng=NumpyRNG(1)), prj) is None
    assert build_connections(sim.AllToAllConnector(location_selector="soma"), prj) is None

    class MyConnector(sim.AllToAllConnector):
        def connect(self, projection):
            pass

    assert build_connections(MyConnector(), prj) is None


class _Cells:
    def __init__(self, ids, positions):
        self.all_cells = np.asarray(ids)
        self.size = len(ids)
        self.positions = np.asarray(positions, dtype=float)


class _Synapse:
    def __init__(self, **parameters):
        from pyNN.parameters import ParameterSpace
        self.parameter_space = ParameterSpace(parameters)

    def get_parameter_names(self):
        return list(self.parameter_space.keys())


class _Projection:
    def __init__(self, pre, post, synapse, space=None):
        self.pre, self.post, self.synapse_type = pre, post, synapse
        self.space = space or Space()


def test_minimal_fake_projection():
    pre = _Cells([10, 11, 12, 13], np.zeros((3, 4)))
    post = _Cells([12, 13, 14], np.vstack([np.arange(3.0), np.zeros(3), np.zeros(3)]))
    prj = _Projection(pre, post, _Synapse(weight="0.1 + 0.01*d", delay=1.0))
    pre_idx, post_idx, params = build_connections(
        sim.AllToAllConnector(allow_self_connections=False), prj)
    assert pre_idx.size == 12 - 2  # cells 12 and 13 are in both
    assert (2, 0) not in pairs(pre_idx, post_idx) and (3, 1) not in pairs(pre_idx, post_idx)
    np.testing.assert_allclose(params["weight"], 0.1 + 0.01 * post_idx)
    np.testing.assert_array_equal(params["delay"], 1.0)
    pre_idx, post_idx, _ = build_connections(
        sim.FixedNumberPostConnector(2, allow_self_connections=False, rng=NumpyRNG(9)), prj)
    np.testing.assert_array_equal(np.bincount(pre_idx, minlength=4), 2)
    ids = np.column_stack([pre.all_cells[pre_idx], post.all_cells[post_idx]])
    assert not np.any(ids[:, 0] == ids[:, 1])
