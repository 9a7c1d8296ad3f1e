"""ElectricalSynapse (gap junctions) through the PyNN API.

Checked: two passive cells against the analytic solution of the coupled linear ODE within
the explicit scheme's first-order error bound, and that error halving with dt; one
connection couples both ways; a zero weight is no coupling; weights in µS read and changed
with Projection.get/set (no recompilation); junctions within a population and between
populations and cell types; bad input refused with PyNN's error types; spiking physics (a
driven cell depolarises its partner and is loaded by it; HH spikes cross a strong junction).

NEST 3.10 has no live comparison here: its gap-junction models (hh_psc_alpha_gap,
hh_cond_beta_gap_traub) are none of the models this backend implements.
"""

import numpy as np
import pytest
from pyNN import errors

import pynn_brainpy as sim
from pynn_brainpy import simulator

DT = 0.1
# IF_curr_exp cells that never fire: C = 0.25 nF, g_L = C/τ_m = 25 nS
CM, TAU_M, V_REST = 0.25, 10.0, -70.0
PASSIVE = dict(cm=CM, tau_m=TAU_M, v_rest=V_REST, v_reset=V_REST, v_thresh=1000.0)
V0 = np.array([-60.0, -70.0])


@pytest.fixture(autouse=True)
def _setup():
    sim.setup(timestep=DT)
    yield
    sim.end()


def _v(population):
    """Recorded v (rows: t = 0, dt, 2·dt, ...; the first row is the initial state)."""
    return np.asarray(population.get_data().segments[-1].analogsignals[0])


def _passive_pair(weight, t_stop=30.0):
    """Cells a (V0 = −60 mV) and b (−70 mV) in two populations, one junction a→b."""
    a = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[0]})
    b = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[1]})
    prj = sim.Projection(a, b, sim.OneToOneConnector(), sim.ElectricalSynapse(weight=weight))
    a.record("v")
    b.record("v")
    sim.run(t_stop)
    return np.concatenate([_v(a), _v(b)], axis=1), prj


def _analytic(t, g_nS):
    """C·dV_i/dt = −g_L(V_i − E_L) + g(V_j − V_i): the mean relaxes with rate g_L/C, the
    difference with (g_L + 2g)/C."""
    C, g_L = CM * 1000.0, CM * 1000.0 / TAU_M
    m = (V0.mean() - V_REST) * np.exp(-t * g_L / C)
    d = (V0[0] - V0[1]) * np.exp(-t * (g_L + 2 * g_nS) / C)
    return V_REST + np.stack([m + d / 2, m - d / 2], axis=1)


def _error_bound(g_nS, h):
    """Largest error of either V for the explicit scheme (derived in
    tests/engine/test_gap_junctions.py::_bound): the mean is exact; per step the difference
    is multiplied by λ_num = P22 − (2g/g_L)(1 − P22) instead of λ = e^{−h(a+b)} (a = g_L/C,
    b = 2g/C), so with δ = 1 − λ_num/λ ≈ h²·b(a+b)/2 the error of the difference is at most
    |D0|·e^{−(a+b)t}·(t/h)·δ ≤ |D0|·δ/(e·h·(a+b)); each V has half of it, ≈ |D0|·b·h/(4e)."""
    C, g_L = CM * 1000.0, CM * 1000.0 / TAU_M
    a, b = g_L / C, 2 * g_nS / C
    P22 = np.exp(-h / TAU_M)
    delta = 1 - (P22 - (2 * g_nS / g_L) * (1 - P22)) / np.exp(-h * (a + b))
    return abs(V0[0] - V0[1]) * delta / (np.e * h * (a + b)) / 2


def test_passive_pair_matches_the_coupled_ode_to_first_order():
    weight = 0.025                                       # µS = 25 nS = g_L
    errors_ = []
    for h in (0.1, 0.05):
        sim.setup(timestep=h)
        V, _ = _passive_pair(weight)
        t = h * np.arange(V.shape[0])
        err = np.abs(V - _analytic(t, weight * 1000.0)).max()
        bound = _error_bound(weight * 1000.0, h)
        # within the bound, and of its size (the bound is reached near t = C/(g_L + 2g))
        assert 0.8 * bound < err <= bound * (1 + 1e-6), (h, err, bound)
        errors_.append(err)
        sim.end()
    assert errors_[0] / errors_[1] == pytest.approx(2.0, rel=0.05)      # first order


def test_one_connection_couples_both_ways():
    """a→b pulls b up and a down; b→a (the reverse projection) gives the same traces."""
    forward, _ = _passive_pair(0.03, t_stop=20.0)
    sim.end()
    sim.setup(timestep=DT)
    a = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[0]})
    b = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[1]})
    sim.Projection(b, a, sim.OneToOneConnector(), sim.ElectricalSynapse(weight=0.03))
    a.record("v")
    b.record("v")
    sim.run(20.0)
    backward = np.concatenate([_v(a), _v(b)], axis=1)
    np.testing.assert_allclose(backward, forward, rtol=0, atol=1e-12)
    t = DT * np.arange(forward.shape[0])
    alone = V_REST + (V0 - V_REST) * np.exp(-t / TAU_M)[:, None]
    assert np.all(forward[1:, 0] < alone[1:, 0] - 1e-6)
    assert np.all(forward[1:, 1] > alone[1:, 1] + 1e-6)


def test_zero_weight_is_no_coupling():
    cells = sim.Population(4, sim.IF_curr_exp(**PASSIVE),
                           initial_values={"v": [-60.0, -70.0, -60.0, -70.0]})
    prj = sim.Projection(cells[0:1], cells[1:2], sim.OneToOneConnector(),
                         sim.ElectricalSynapse(weight=0.0))
    cells.record("v")
    sim.run(10.0)
    V = _v(cells)
    assert np.array_equal(V[:, :2], V[:, 2:])       # cells 2, 3: uncoupled copies
    assert prj.get("weight", format="list") == [(0, 0, 0.0)]


def test_weights_in_uS_get_set_without_recompiling():
    """Pairs (0, 2) and (1, 3), 10 mV apart, coupled by 20 nS; then 50 nS and 0 nS."""
    cells = sim.Population(4, sim.IF_curr_exp(**PASSIVE),
                           initial_values={"v": [-60.0, -60.0, -70.0, -70.0]})
    prj = sim.Projection(cells[0:2], cells[2:4], sim.OneToOneConnector(),
                         sim.ElectricalSynapse(weight=0.02))
    np.testing.assert_array_equal(prj.get("weight", format="array"), [[0.02, np.nan],
                                                                      [np.nan, 0.02]])
    cells.record("v")
    sim.run(10.0)
    network = simulator.state.network
    np.testing.assert_allclose(network.gap_junctions[0].weight, [20.0, 20.0])    # nS
    compiled = dict(network._compiled)
    prj.set(weight=np.array([[0.05, 0.0], [0.0, 0.0]]))     # only existing connections count
    assert prj.get("weight", format="list") == [(0, 0, 0.05), (1, 1, 0.0)]
    sim.run(10.0)
    assert simulator.state.network is network and network._compiled == compiled
    np.testing.assert_allclose(network.gap_junctions[0].weight, [50.0, 0.0])
    V = _v(cells)[100:]                                     # t = 10 ... 20 ms
    t = DT * np.arange(V.shape[0])
    # pair (1, 3) uncoupled now: each relaxes alone from where it was at 10 ms
    for i in (1, 3):
        np.testing.assert_allclose(V[:, i], V_REST + (V[0, i] - V_REST) * np.exp(-t / TAU_M),
                                   rtol=0, atol=1e-10)
    # pair (0, 2): per step the difference is multiplied by the scheme's
    # λ_num = P22 − (2g/g_L)(1 − P22) for g = 50 nS (≈ e^{−h(g_L + 2g)/C} = e^{−0.05})
    P22 = np.exp(-DT / TAU_M)
    lam = P22 - (2 * 50.0 / (1000 * CM / TAU_M)) * (1 - P22)
    d = V[:, 0] - V[:, 2]
    np.testing.assert_allclose(d, d[0] * lam ** np.arange(len(d)), rtol=1e-9)
    # after reset the new weights act from the start
    sim.reset()
    sim.run(10.0)
    V = _v(cells)
    t = DT * np.arange(V.shape[0])
    np.testing.assert_allclose(V[:, 1], V_REST + 10.0 * np.exp(-t / TAU_M), rtol=0, atol=1e-10)
    np.testing.assert_allclose(V[:, 0] - V[:, 2], 10.0 * lam ** np.arange(len(t)), rtol=1e-9)


def test_within_one_population_equals_between_two():
    cells = sim.Population(2, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0})
    sim.Projection(cells, cells, sim.FromListConnector([(0, 1, 0.03)], column_names=["weight"]),
                   sim.ElectricalSynapse())
    cells.record("v")
    sim.run(20.0)
    within = _v(cells)
    sim.end()
    sim.setup(timestep=DT)
    between, _ = _passive_pair(0.03, t_stop=20.0)
    np.testing.assert_allclose(within, between, rtol=0, atol=1e-12)


def test_all_to_all_within_a_population_counts_each_direction():
    """i→j and j→i are two junctions: AllToAll (no self-connections) on two cells doubles
    the coupling of one FromList connection."""
    cells = sim.Population(4, sim.IF_curr_exp(**PASSIVE),
                           initial_values={"v": [-60.0, -70.0, -60.0, -70.0]})
    sim.Projection(cells[0:2], cells[0:2], sim.AllToAllConnector(allow_self_connections=False),
                   sim.ElectricalSynapse(weight=0.01))
    sim.Projection(cells, cells, sim.FromListConnector([(2, 3, 0.02)], column_names=["weight"]),
                   sim.ElectricalSynapse())
    cells.record("v")
    sim.run(10.0)
    V = _v(cells)
    np.testing.assert_allclose(V[:, :2], V[:, 2:], rtol=0, atol=1e-12)


def test_different_cell_types():
    """A conductance-based cell coupled to an Izhikevich cell: both move towards each other
    relative to uncoupled copies."""
    cond = sim.Population(2, sim.IF_cond_exp(v_thresh=0.0), initial_values={"v": -50.0})
    izh = sim.Population(2, sim.Izhikevich(), initial_values={"v": -75.0})
    sim.Projection(izh[0:1], cond[0:1], sim.OneToOneConnector(),
                   sim.ElectricalSynapse(weight=0.01))
    cond.record("v")
    izh.record("v")
    sim.run(5.0)
    vc, vi = _v(cond), _v(izh)
    assert np.all(vc[5:, 0] < vc[5:, 1] - 1e-3)         # cell 1 of each: uncoupled copies
    assert np.all(vi[5:, 0] > vi[5:, 1] + 1e-3)


def test_assembly_equals_separate_populations():
    a = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[0]})
    b = sim.Population(1, sim.IF_curr_exp(**PASSIVE), initial_values={"v": V0[1]})
    both = a + b
    sim.Projection(both, both, sim.FromListConnector([(0, 1, 0.03)], column_names=["weight"]),
                   sim.ElectricalSynapse())
    both.record("v")
    sim.run(20.0)
    assembled = np.concatenate([_v(a), _v(b)], axis=1)
    sim.end()
    sim.setup(timestep=DT)
    separate, _ = _passive_pair(0.03, t_stop=20.0)
    np.testing.assert_allclose(assembled, separate, rtol=0, atol=1e-12)


def test_bad_input_is_refused():
    cells = sim.Population(2, sim.IF_cond_exp())
    source = sim.Population(2, sim.SpikeSourcePoisson(rate=10.0))
    with pytest.raises(ValueError, match="weight"):
        sim.ElectricalSynapse(weight=-0.01)
    with pytest.raises(errors.InvalidParameterValueError, match="weight"):
        sim.Projection(cells, cells, sim.FromListConnector([(0, 1, -0.01)],
                                                           column_names=["weight"]),
                       sim.ElectricalSynapse())
    prj = sim.Projection(cells[0:1], cells[1:2], sim.OneToOneConnector(),
                         sim.ElectricalSynapse(weight=0.01))
    with pytest.raises(errors.InvalidParameterValueError, match="weight"):
        prj.set(weight=-1.0)
    with pytest.raises(errors.NonExistentParameterError, match="delay"):
        sim.ElectricalSynapse(weight=0.01, delay=1.0)
    with pytest.raises(errors.NonExistentParameterError, match="delay"):
        prj.get("delay", format="list")
    with pytest.raises(errors.NonExistentParameterError, match="delay"):
        prj.set(delay=2.0)
    for pre, post in ((source, cells), (cells, source)):
        with pytest.raises(errors.ConnectionError, match="spike source"):
            sim.Projection(pre, post, sim.AllToAllConnector(),
                           sim.ElectricalSynapse(weight=0.01))


def test_receptor_type_is_accepted_and_ignored():
    runs = []
    for receptor in (None, "inhibitory"):
        sim.setup(timestep=DT)
        cells = sim.Population(2, sim.IF_cond_exp(), initial_values={"v": [-55.0, -70.0]})
        prj = sim.Projection(cells[0:1], cells[1:2], sim.OneToOneConnector(),
                             sim.ElectricalSynapse(weight=0.01), receptor_type=receptor)
        cells.record("v")
        sim.run(5.0)
        runs.append(_v(cells))
        sim.end()
    assert prj.receptor_type == "inhibitory"
    np.testing.assert_array_equal(runs[0], runs[1])
    assert sim.get_min_delay() == DT            # a projection without delays: one step


def test_driven_cell_depolarises_its_partner_and_is_loaded_by_it():
    """IF_cond_exp a driven above threshold by a DC current, b passive, coupled by
    g = 20 nS. Averaged over time the linear membrane of b obeys
    0 ≈ −g_L(<V_b> − E_L) + g(<V_a> − <V_b>), so <V_b> = (g_L·E_L + g<V_a>)/(g_L + g);
    and a, losing current to b, fires less than an uncoupled copy."""
    cells = sim.Population(4, sim.IF_cond_exp())       # defaults: g_L = 50 nS, E_L = −65
    sim.Projection(cells[0:1], cells[1:2], sim.OneToOneConnector(),
                   sim.ElectricalSynapse(weight=0.02))
    dc = sim.DCSource(amplitude=1.5, start=0.0, stop=1e9)
    dc.inject_into(cells[0:1])
    dc.inject_into(cells[2:3])                       # 2, 3: the uncoupled copies
    cells.record(["spikes", "v"])
    sim.run(500.0)
    segment = cells.get_data().segments[0]
    counts = [len(s) for s in segment.spiketrains]
    V = np.asarray(segment.analogsignals[0])[1000:]   # after the first 100 ms
    assert counts[1] == counts[3] == 0 and 0 < counts[0] < counts[2]
    g, g_L, E_L = 20.0, 50.0, -65.0
    predicted = (g_L * E_L + g * V[:, 0].mean()) / (g_L + g)
    assert V[:, 1].mean() == pytest.approx(predicted, abs=0.05)
    assert V[:, 1].mean() > E_L + 2.0 and np.all(V[:, 3] == E_L)


def test_hh_spikes_cross_a_strong_junction():
    """A driven HH_cond_exp cell makes its partner fire through a 50 nS junction, each spike
    within a millisecond of the driver's; an uncoupled copy of the partner stays silent."""
    cells = sim.Population(3, sim.HH_cond_exp())
    sim.Projection(cells[0:1], cells[1:2], sim.OneToOneConnector(),
                   sim.ElectricalSynapse(weight=0.05))
    sim.DCSource(amplitude=0.5, start=0.0, stop=1e9).inject_into(cells[0:1])
    cells.record("spikes")
    sim.run(100.0)
    driver, follower, alone = (np.asarray(s) for s in
                               cells.get_data().segments[0].spiketrains)
    assert len(driver) >= 4 and len(follower) == len(driver) and len(alone) == 0
    lag = follower - driver
    assert np.all((lag > 0) & (lag < 1.0))
