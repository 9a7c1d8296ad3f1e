"""Projections through the PyNN API: every PyNN 0.13 connector, get/set of weights and delays,
``save``, ``size``, ``connections``, receptor types, delay rounding and bad input.

Connection sets are checked against a NumPy reference where the connector is deterministic,
and against PyNN's own connector loop (``pyNN.mock``) with the same seeded ``NumpyRNG``
where ``pynn_brainpy.connectivity`` claims to draw the same numbers (FixedProbability,
DistanceDependentProbability, IndexBased/DisplacementDependentProbability, RandomDistribution
weights, and the connectors that fall back to PyNN's loop: SmallWorld, Clone, FromFile).
Only the last tests run a network.
"""

import numpy as np
import pytest

import pyNN.mock as mock
import pynn_brainpy as sim
from pyNN import errors
from pyNN.core import IndexBasedExpression
from pyNN.random import NumpyRNG, RandomDistribution
from pyNN.space import Grid2D, Line

DT = 0.1


@pytest.fixture(autouse=True)
def _setup():
    sim.setup(timestep=DT, min_delay=DT)
    mock.setup(timestep=DT, min_delay=DT)
    yield


def _pops(backend, n_pre, n_post, same=False, structure=None):
    kw = {} if structure is None else {"structure": structure}
    if backend is sim:
        celltype = sim.GLIF_cond(tau_syn=[0.5, 2.0, 1.0], e_rev=[0.0, -85.0, -30.0])
    else:
        celltype = mock.IF_cond_exp()
    pre = backend.Population(n_pre, celltype, **kw)
    post = pre if same else backend.Population(n_post, celltype, **kw)
    return pre, post


def _rows(prj, names=("weight", "delay")):
    """Connections as rows (pre, post, *names), sorted."""
    rows = np.array(prj.get(list(names), format="list"), float).reshape(-1, 2 + len(names))
    return rows[np.lexsort(rows.T[::-1])] if rows.size else rows


def _build_both(make_connector, n_pre=12, n_post=9, same=False, structure=None,
                weight=0.01, delay=1.0, receptor="excitatory"):
    """The same projection with pynn_brainpy and with pyNN.mock (PyNN's own loop)."""
    out = []
    for backend in (sim, mock):
        pre, post = _pops(backend, n_pre, n_post, same, structure)
        w = weight() if callable(weight) else weight
        d = delay() if callable(delay) else delay
        out.append(backend.Projection(pre, post, make_connector(),
                                      backend.StaticSynapse(weight=w, delay=d),
                                      receptor_type=receptor))
    return out


def _assert_same_as_mock(ours, ref):
    a, b = _rows(ours), _rows(ref)
    assert a.shape == b.shape, f"{a.shape[0]} connections vs PyNN's {b.shape[0]}"
    np.testing.assert_array_equal(a[:, :2], b[:, :2])
    np.testing.assert_allclose(a[:, 2], b[:, 2], rtol=1e-12)
    # delays: ours on the grid; PyNN's mock keeps them unrounded
    np.testing.assert_allclose(a[:, 3], np.round(b[:, 3] / DT) * DT, atol=1e-12)
    return a


def _pairs(prj):
    return {(int(i), int(j)) for i, j in _pair_list(prj)}


def _pair_list(prj):
    return _rows(prj, ("weight",))[:, :2].astype(int)


# ------------------------------------------------------------------ deterministic connectors
def test_all_to_all():
    ours, _ = _build_both(lambda: sim.AllToAllConnector())
    assert _pairs(ours) == {(i, j) for i in range(12) for j in range(9)}
    same, _ = _build_both(lambda: sim.AllToAllConnector(allow_self_connections=False),
                          n_pre=7, same=True)
    assert _pairs(same) == {(i, j) for i in range(7) for j in range(7) if i != j}
    assert len(same) == same.size() == 42


def test_one_to_one():
    ours, ref = _build_both(lambda: sim.OneToOneConnector(), n_pre=8, n_post=8)
    assert _pairs(ours) == {(i, i) for i in range(8)}
    _assert_same_as_mock(ours, ref)


def test_array_connector():
    rng = np.random.default_rng(3)
    mask = rng.random((12, 9)) < 0.3
    ours, ref = _build_both(lambda: sim.ArrayConnector(mask))
    assert _pairs(ours) == set(zip(*np.nonzero(mask)))
    _assert_same_as_mock(ours, ref)


def test_from_list_with_weights_and_delays():
    conns = [(0, 1, 0.01, 1.0), (3, 2, 0.02, 2.5), (3, 2, 0.03, 0.7), (11, 8, 0.0, 0.1)]
    pre, post = _pops(sim, 12, 9)
    prj = sim.Projection(pre, post, sim.FromListConnector(conns, column_names=["weight",
                                                                                "delay"]),
                         receptor_type="excitatory")
    np.testing.assert_allclose(_rows(prj), sorted(conns), atol=1e-12)
    # multiple connections between one pair: 'sum' in array format
    w = prj.get("weight", format="array", multiple_synapses="sum")
    assert w[3, 2] == pytest.approx(0.05)
    assert np.isnan(w[0, 0]) and w[11, 8] == 0.0
    w = prj.get("weight", format="array", multiple_synapses="max")
    assert w[3, 2] == pytest.approx(0.03)


def test_from_file_round_trip_through_save(tmp_path):
    pre, post = _pops(sim, 12, 9)
    rng = NumpyRNG(5)
    prj = sim.Projection(pre, post, sim.FixedProbabilityConnector(0.3, rng=rng),
                         sim.StaticSynapse(weight=RandomDistribution("uniform", (0.01, 0.02),
                                                                     rng=rng), delay=1.5),
                         receptor_type="receptor_2")
    path = str(tmp_path / "conns.txt")
    prj.save("all", path, format="list")
    loaded = np.loadtxt(path)
    np.testing.assert_allclose(loaded[np.lexsort(loaded.T[::-1])], _rows(prj), rtol=1e-12)
    prj2 = sim.Projection(pre, post, sim.FromFileConnector(path), receptor_type="receptor_2")
    np.testing.assert_allclose(_rows(prj2), _rows(prj), rtol=1e-12)
    # array format of one attribute
    wpath = str(tmp_path / "w.txt")
    prj.save("weight", wpath, format="array")
    # (PyNN writes 0 where there is no connection)
    np.testing.assert_allclose(np.loadtxt(wpath),
                               np.nan_to_num(prj.get("weight", format="array")))


def test_clone_connector():
    pre, post = _pops(sim, 12, 9)
    ref = sim.Projection(pre, post, sim.FixedProbabilityConnector(0.4, rng=NumpyRNG(9)),
                         sim.StaticSynapse(weight=0.01), receptor_type="excitatory")
    clone = sim.Projection(pre, post, sim.CloneConnector(ref),
                           sim.StaticSynapse(weight=0.05, delay=2.0),
                           receptor_type="inhibitory")
    assert _pairs(clone) == _pairs(ref) and len(clone) == len(ref) > 0
    np.testing.assert_allclose(clone.get("weight", format="list", with_address=False), 0.05)
    np.testing.assert_allclose(clone.get("delay", format="list", with_address=False), 2.0)
    assert clone._ports[clone.post._index] == "receptor_1"


def test_index_based_probability():
    class Band(IndexBasedExpression):
        """1 within a band |i - j| <= 2, else 0 (deterministic)."""
        def __call__(self, i, j):
            return (np.abs(i - j) <= 2).astype(float)

    ours, ref = _build_both(lambda: sim.IndexBasedProbabilityConnector(Band(),
                                                                        rng=NumpyRNG(1)))
    assert _pairs(ours) == {(i, j) for i in range(12) for j in range(9) if abs(i - j) <= 2}
    _assert_same_as_mock(ours, ref)


def test_distance_dependent_deterministic_against_numpy():
    ours, ref = _build_both(
        lambda: sim.DistanceDependentProbabilityConnector("d < 2.5", rng=NumpyRNG(2)),
        structure=Line(dx=1.0))
    pos_pre = np.arange(12.0)
    pos_post = np.arange(9.0)   # both lines start at x = 0
    np.testing.assert_allclose(ours.post.positions[0], pos_post)
    expected = {(i, j) for i in range(12) for j in range(9)
                if abs(pos_pre[i] - pos_post[j]) < 2.5}
    assert _pairs(ours) == expected
    _assert_same_as_mock(ours, ref)


def test_displacement_dependent():
    ours, ref = _build_both(
        lambda: sim.DisplacementDependentProbabilityConnector(
            lambda d: ((d[0] > 0) & (d[0] < 3.5)).astype(float), rng=NumpyRNG(4)),
        structure=Line(dx=1.0))
    # displacement = post position - pre position (PyNN's convention, checked via mock)
    a = _assert_same_as_mock(ours, ref)
    assert len(a) > 0
    dx = ours.post.positions[0][a[:, 1].astype(int)] - ours.pre.positions[0][a[:, 0].astype(int)]
    assert np.all(np.abs(dx) > 0) and np.all(np.abs(dx) < 3.5)


# ------------------------------------------------------------------ random connectors
def test_fixed_probability_same_as_pynn_for_the_same_seed():
    ours, ref = _build_both(lambda: sim.FixedProbabilityConnector(0.3, rng=NumpyRNG(77)),
                            n_pre=40, n_post=30,
                            weight=lambda: RandomDistribution("uniform", (0.001, 0.01),
                                                              rng=NumpyRNG(78)),
                            delay=lambda: RandomDistribution("uniform", (0.5, 3.0),
                                                             rng=NumpyRNG(79)))
    a = _assert_same_as_mock(ours, ref)
    assert 0.2 * 1200 < len(a) < 0.4 * 1200
    assert len(np.unique(a[:, 3])) > 10          # heterogeneous delays


def test_distance_dependent_random_same_as_pynn():
    ours, ref = _build_both(
        lambda: sim.DistanceDependentProbabilityConnector("exp(-d / 3.0)", rng=NumpyRNG(6)),
        n_pre=25, n_post=25, structure=Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0))
    _assert_same_as_mock(ours, ref)


def test_fixed_number_pre_and_post():
    pre, post = _pops(sim, 20, 15)
    prj = sim.Projection(pre, post, sim.FixedNumberPreConnector(4, rng=NumpyRNG(10)),
                         receptor_type="excitatory")
    p = _pair_list(prj)
    np.testing.assert_array_equal(np.bincount(p[:, 1], minlength=15), 4)
    assert len(_pairs(prj)) == len(prj) == 60        # without replacement: distinct
    prj = sim.Projection(pre, post, sim.FixedNumberPostConnector(6, rng=NumpyRNG(11)),
                         receptor_type="excitatory")
    p = _pair_list(prj)
    np.testing.assert_array_equal(np.bincount(p[:, 0], minlength=20), 6)
    assert len(_pairs(prj)) == len(prj) == 120
    same = sim.Projection(pre, pre, sim.FixedNumberPreConnector(
        5, allow_self_connections=False, rng=NumpyRNG(12)), receptor_type="excitatory")
    p = _pair_list(same)
    assert not np.any(p[:, 0] == p[:, 1])
    # reproducible from the seed
    again = sim.Projection(pre, pre, sim.FixedNumberPreConnector(
        5, allow_self_connections=False, rng=NumpyRNG(12)), receptor_type="excitatory")
    np.testing.assert_array_equal(_pair_list(again), p)


def test_fixed_total_number():
    pre, post = _pops(sim, 20, 15)
    prj = sim.Projection(pre, post, sim.FixedTotalNumberConnector(
        100, with_replacement=False, rng=NumpyRNG(13)), receptor_type="excitatory")
    assert len(prj) == len(_pairs(prj)) == 100


def test_small_world_is_not_implemented_as_in_pynn():
    """PyNN 0.13's SmallWorldConnector.connect raises NotImplementedError in every backend
    (pyNN.mock too); ours must do the same, not build something else."""
    for backend in (mock, sim):
        pre, _ = _pops(backend, 20, 20, structure=Line(dx=1.0))
        with pytest.raises(NotImplementedError):
            backend.Projection(pre, pre, backend.SmallWorldConnector(
                degree=2.0, rewiring=0.2, rng=NumpyRNG(14)), backend.StaticSynapse(),
                receptor_type="excitatory")


def test_csa_connector():
    csa = pytest.importorskip("csa")
    pre, post = _pops(sim, 10, 10)
    prj = sim.Projection(pre, post, sim.CSAConnector(csa.oneToOne),
                         sim.StaticSynapse(weight=0.01), receptor_type="excitatory")
    assert _pairs(prj) == {(i, i) for i in range(10)}


# ------------------------------------------------------------------ the Projection API
def test_get_formats_size_and_connections():
    pre, post = _pops(sim, 6, 5)
    weights = np.arange(30, dtype=float).reshape(6, 5) / 1000.0
    prj = sim.Projection(pre, post, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=weights, delay=0.7),
                         receptor_type="receptor_1")
    assert len(prj) == prj.size() == 30
    np.testing.assert_allclose(prj.get("weight", format="array"), weights)
    w, d = prj.get(["weight", "delay"], format="array")
    np.testing.assert_allclose(w, weights)
    np.testing.assert_allclose(d, 0.7)
    lst = prj.get(["weight", "delay"], format="list")
    assert len(lst) == 30 and all(len(row) == 4 for row in lst)
    for i, j, wt, dl in lst:
        assert isinstance(i, int) and isinstance(j, int)
        assert wt == pytest.approx(weights[i, j]) and dl == pytest.approx(0.7)
    no_addr = prj.get("weight", format="list", with_address=False)
    assert sorted(no_addr) == pytest.approx(sorted(weights.ravel()))
    conns = prj.connections
    assert len(conns) == 30
    c = conns[7]
    assert c.weight == pytest.approx(weights[c.presynaptic_index, c.postsynaptic_index])
    assert c.delay == pytest.approx(0.7)
    assert c.as_tuple("weight", "delay") == (c.weight, c.delay)


def test_receptor_types_and_aliases():
    pre, post = _pops(sim, 3, 3)
    assert post.celltype.receptor_types == ["receptor_0", "receptor_1", "receptor_2",
                                            "excitatory", "inhibitory"]
    for name, port in [("receptor_0", 0), ("excitatory", 0), ("receptor_1", 1),
                       ("inhibitory", 1), ("receptor_2", 2)]:
        prj = sim.Projection(pre, post, sim.OneToOneConnector(), receptor_type=name)
        assert prj.receptor_type == name
        assert prj._ports[post._index] == f"receptor_{port}"
    for bad in ("receptor_3", "gaba", "receptor_01"):
        with pytest.raises(errors.ConnectionError):
            sim.Projection(pre, post, sim.OneToOneConnector(), receptor_type=bad)


def test_heterogeneous_weights_random_and_distance_expression():
    pre, post = _pops(sim, 10, 8, structure=Line(dx=2.0))
    prj = sim.Projection(pre, post, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight="0.001 * d + 0.002", delay="0.1 + 0.25 * d"),
                         receptor_type="excitatory")
    x_pre, x_post = pre.positions[0], post.positions[0]
    dist = np.abs(x_pre[:, None] - x_post[None, :])
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.001 * dist + 0.002)
    expected_delay = np.floor((0.1 + 0.25 * dist) / DT + 0.5) * DT
    np.testing.assert_allclose(prj.get("delay", format="array"), expected_delay, atol=1e-12)


def test_delays_are_rounded_to_the_grid():
    pre, post = _pops(sim, 2, 2)
    prj = sim.Projection(pre, post, sim.FromListConnector(
        [(0, 0, 0.01, 1.26), (0, 1, 0.01, 1.24), (1, 0, 0.01, 0.1), (1, 1, 0.01, 2.0)]),
        receptor_type="excitatory")
    d = {(i, j): dl for i, j, dl in prj.get("delay", format="list")}
    assert d == {(0, 0): 1.3, (0, 1): 1.2, (1, 0): 0.1, (1, 1): 2.0}
    prj.set(delay=0.34)
    np.testing.assert_array_equal(prj.get("delay", format="array"), 0.3)


@pytest.mark.parametrize("delay", [0.04, 0.0, RandomDistribution("uniform", (0.01, 0.04))])
def test_delay_below_dt_is_refused(delay):
    pre, post = _pops(sim, 3, 3)
    with pytest.raises(errors.ConnectionError, match="delay"):
        sim.Projection(pre, post, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=0.01, delay=delay), receptor_type="excitatory")
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), receptor_type="excitatory")
    with pytest.raises(errors.ConnectionError):
        prj.set(delay=0.04)
    np.testing.assert_array_equal(prj.get("delay", format="array"), DT)   # unchanged


def test_negative_conductance_weight_is_refused():
    pre, post = _pops(sim, 3, 3)
    with pytest.raises(errors.ConnectionError):
        sim.Projection(pre, post, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=-0.01), receptor_type="inhibitory")
    prj = sim.Projection(pre, post, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=0.01), receptor_type="inhibitory")
    with pytest.raises(errors.ConnectionError):
        prj.set(weight=-0.5)
    np.testing.assert_array_equal(prj.get("weight", format="array"), 0.01)


def test_set_with_arrays_and_random_distribution():
    pre, post = _pops(sim, 4, 3)
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), receptor_type="excitatory")
    w = np.arange(12, dtype=float).reshape(4, 3) / 100.0
    prj.set(weight=w)
    np.testing.assert_allclose(prj.get("weight", format="array"), w)
    prj.set(weight=RandomDistribution("uniform", (0.1, 0.2), rng=NumpyRNG(3)))
    got = prj.get("weight", format="array")
    assert np.all((got >= 0.1) & (got <= 0.2)) and len(np.unique(got)) == 12
    with pytest.raises(errors.NonExistentParameterError):
        prj.set(tau_rec=3.0)


def test_projection_set_weight_between_runs_changes_dynamics_without_rebuild():
    sim.setup(timestep=DT)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0, 25.0], [5.0, 25.0]]))
    post = sim.Population(2, sim.GLIF_cond(tau_syn=[1.0, 2.0, 1.0], e_rev=[0, -85, -30]))
    prj = sim.Projection(src, post, sim.OneToOneConnector(),
                         sim.StaticSynapse(weight=0.002, delay=1.0), receptor_type="receptor_2")
    post.record("gsyn_receptor_2")
    sim.run(20.0)
    network = sim.simulator.state.network
    compiled = dict(network._compiled)
    prj.set(weight=np.array([[0.004, np.nan], [np.nan, 0.006]]))
    sim.run(20.0)
    assert sim.simulator.state.network is network            # not rebuilt
    assert network._compiled == compiled                     # and not recompiled
    g = post.get_data().segments[0].analogsignals[0].magnitude
    first, second = g[:200].max(axis=0), g[200:].max(axis=0)
    np.testing.assert_allclose(first, [0.002, 0.002], rtol=0.02)
    np.testing.assert_allclose(second, [0.004, 0.006], rtol=0.02)
    # a delay change needs a rebuild: refused in the middle of a simulation (values kept),
    # accepted after reset(), and then in effect
    with pytest.raises(NotImplementedError):
        prj.set(delay=3.0)
    np.testing.assert_array_equal(prj.get("delay", format="list", with_address=False), 1.0)
    sim.reset()
    prj.set(delay=3.0)
    sim.run(20.0)
    assert sim.simulator.state.network is not network
    g = post.get_data().segments[-1].analogsignals[0].magnitude
    # the spike at 5 ms now peaks at 5 + 3 + tau_syn(port 2) = 9 ms, with the new weights
    np.testing.assert_allclose(np.argmax(g[:200], axis=0) * DT, [9.0, 9.0], atol=0.15)
    np.testing.assert_allclose(g[:200].max(axis=0), [0.004, 0.006], rtol=0.02)
