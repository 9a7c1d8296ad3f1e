"""Gap junctions in the engine: the explicit scheme, its accuracy against the coupled linear
ODE, symmetry, groups, weights changed between runs, every neuron model, bad input."""

import brainstate
import numpy as np
import pytest

from pynn_brainpy import models
from pynn_brainpy.engine import gap_junctions as gap
from pynn_brainpy.engine import network as engine

E_L, C_M, TAU_M = -70.0, 250.0, 10.0          # iaf_psc_exp: g_L = C/τ = 25 nS
G_L = C_M / TAU_M
V0 = np.array([-60.0, -70.0])                  # D0 = 10 mV


@pytest.fixture(autouse=True)
def _environment():
    with brainstate.environ.context(dt=0.1, precision=64):
        yield


def _passive(n=2):
    """iaf_psc_exp cells that never fire."""
    return models.iaf_psc_exp(n, E_L=E_L, C_m=C_M, tau_m=TAU_M, V_th=1e6)


def _run(groups, junctions, n_steps, v0=None, probes=None, dt=0.1, chunks=None):
    """V_m of every neuron group after each step (rows), cells of all groups side by side."""
    with brainstate.environ.context(dt=dt, precision=64):
        net = engine.Network(groups, [], [], dt=dt, gap_junctions=junctions)
        for gi, values in (v0 or {}).items():
            groups[gi].model.set_state_value("V_m", values)
        net.set_probes(probes or [engine.Probe(gi, "V_m", np.arange(g.size))
                                  for gi, g in enumerate(groups)
                                  if isinstance(g, engine.NeuronGroup)])
        out = []
        for n in chunks or [n_steps]:
            net.run(n, lambda m0, k, rec: out.append(np.concatenate(rec, axis=1)))
    return np.concatenate(out), net


def _pair(g, dt=0.1, t_stop=30.0):
    """Two passive cells in one group, V0 = (-60, -70) mV, coupled by one junction 0–1."""
    groups = [engine.NeuronGroup(_passive(), 2)]
    junction = gap.GapJunctions(0, [0], 0, [1], [g])
    V, _ = _run(groups, [junction], int(round(t_stop / dt)), {0: V0}, dt=dt)
    return V


def _analytic(t, g):
    """The coupled linear ODE C·dV_i/dt = −g_L(V_i − E_L) + g(V_j − V_i): the mean decays to
    E_L with rate g_L/C, the difference with (g_L + 2g)/C."""
    mean, diff = V0.mean() - E_L, V0[0] - V0[1]
    m = mean * np.exp(-t * G_L / C_M)
    d = diff * np.exp(-t * (G_L + 2 * g) / C_M)
    return E_L + np.stack([m + d / 2, m - d / 2], axis=1)


def _bound(g, h):
    """The largest error of either V for the explicit scheme, over all times.

    The mean is exact (the junction currents cancel). Per step the difference D is
    multiplied by λ_num = P22 − (2g/g_L)(1 − P22) (P22 = e^{−h/τ}: V is propagated exactly
    with the current held) instead of λ = e^{−h(a + b)} (a = g_L/C, b = 2g/C). With
    δ = 1 − λ_num/λ ≈ h²·b(a + b)/2 > 0, after n steps (t = n·h)
    |D_num − D| = |D0|·λ^n·(1 − (1 − δ)^n) ≤ |D0|·e^{−(a+b)t}·n·δ, which is largest at
    t = 1/(a + b): |D0|·δ/(e·h·(a + b)). Each V carries half of it; ≈ |D0|·b·h/(4e), first
    order in h."""
    a, b = G_L / C_M, 2 * g / C_M
    P22 = np.exp(-h / TAU_M)
    lam_num, lam = P22 - (2 * g / G_L) * (1 - P22), np.exp(-h * (a + b))
    delta = 1 - lam_num / lam
    return abs(V0[0] - V0[1]) * delta / (np.e * h * (a + b)) / 2


def test_scheme_is_the_documented_recurrence():
    """Step by step the engine does exactly: I_gap from V at the step start, held, V
    propagated exactly (iaf_psc_exp: V ← E_L + (V − E_L)·P22 + I·P20)."""
    g, h, n = 40.0, 0.1, 300
    V = _pair(g, h, n * h)
    P22 = np.exp(-h / TAU_M)
    P20 = TAU_M / C_M * (1 - P22)
    v, expected = V0.copy(), []
    for _ in range(n):
        current = g * (v[::-1] - v)
        v = E_L + (v - E_L) * P22 + current * P20
        expected.append(v)
    np.testing.assert_allclose(V, np.array(expected), rtol=0, atol=1e-11)


def test_two_passive_cells_follow_the_coupled_ode_to_first_order():
    g = 25.0                                     # nS: b = 0.2/ms, a = 0.1/ms
    errors = []
    for h in (0.1, 0.05):
        V = _pair(g, h)
        t = h * np.arange(1, V.shape[0] + 1)
        err = np.abs(V - _analytic(t, g)).max()
        bound = _bound(g, h)
        # the bound is reached near t = 1/(a+b) up to O(h) terms: the error is of that size
        assert 0.8 * bound < err <= bound * (1 + 1e-6), (h, err, bound)
        errors.append(err)
    # first order: halving dt halves the error
    assert errors[0] / errors[1] == pytest.approx(2.0, rel=0.05)
    # and the coupling is there at all: far from the uncoupled solution
    V = _pair(g)
    uncoupled = E_L + (V0 - E_L) * np.exp(-0.1 * np.arange(1, V.shape[0] + 1) / TAU_M)[:, None]
    assert np.abs(V - uncoupled).max() > 1.0


@pytest.mark.parametrize("ratio, stable", [(0.95, True), (1.05, False)])
def test_stability_limit_of_the_explicit_scheme(ratio, stable):
    """The documented limit: with dt·g/C near 1 the difference alternates in sign; it
    decays below the limit (λ_num > −1) and grows above it."""
    g = ratio * C_M / 0.1
    P22 = np.exp(-0.1 / TAU_M)
    lam = P22 - (2 * g / G_L) * (1 - P22)
    assert (lam > -1) == stable
    d = np.diff(_pair(g, t_stop=10.0)[:, ::-1], axis=1)[:, 0]        # V_1 − V_2, 100 steps
    assert np.all(np.sign(d[1:]) == -np.sign(d[:-1]))
    assert (abs(d[-1]) < abs(d[0])) == stable


def test_one_junction_couples_both_ways_and_conserves_charge():
    """Cells in two groups, one junction a→b: both move towards each other, and the sum of
    their deviations from rest decays as without coupling."""
    groups = [engine.NeuronGroup(_passive(1), 1), engine.NeuronGroup(_passive(1), 1)]
    V, _ = _run(groups, [gap.GapJunctions(0, [0], 1, [0], [30.0])], 200,
                {0: V0[:1], 1: V0[1:]})
    alone, _ = _run([engine.NeuronGroup(_passive(2), 2)], [], 200, {0: V0})
    assert np.all(V[:, 0] < alone[:, 0] - 1e-9)       # a pulled down by b ...
    assert np.all(V[:, 1] > alone[:, 1] + 1e-9)       # ... and b pulled up by a
    np.testing.assert_allclose((V - E_L).sum(axis=1), (alone - E_L).sum(axis=1), atol=1e-10)


def test_across_groups_equals_within_one_group():
    within = _pair(30.0, t_stop=20.0)
    groups = [engine.NeuronGroup(_passive(1), 1), engine.NeuronGroup(_passive(1), 1)]
    across, _ = _run(groups, [gap.GapJunctions(1, [0], 0, [0], [30.0])], 200,
                     {0: V0[:1], 1: V0[1:]})
    np.testing.assert_allclose(across, within, rtol=0, atol=1e-12)


def test_zero_weight_is_no_coupling_and_nothing_leaks_into_I_stim():
    groups = [engine.NeuronGroup(_passive(), 2)]
    probes = [engine.Probe(0, "V_m", np.arange(2)), engine.Probe(0, "I", np.arange(2))]
    zero, _ = _run(groups, [gap.GapJunctions(0, [0], 0, [1], [0.0])], 100, {0: V0}, probes)
    groups = [engine.NeuronGroup(_passive(), 2)]
    alone, _ = _run(groups, [], 100, {0: V0}, probes)
    assert np.array_equal(zero, alone)
    groups = [engine.NeuronGroup(_passive(), 2)]
    coupled, _ = _run(groups, [gap.GapJunctions(0, [0], 0, [1], [30.0])], 100, {0: V0}, probes)
    assert not np.allclose(coupled[:, :2], alone[:, :2])
    # the buffered external current (recordable I) stays the external one: zero
    assert np.all(coupled[:, 2:] == 0.0)


def test_many_junctions_sum_per_cell():
    """A star: cell 0 coupled to cells 1..3 of another group, plus a repeated junction (two
    junctions between the same pair add their conductances)."""
    groups = [engine.NeuronGroup(_passive(1), 1), engine.NeuronGroup(_passive(3), 3)]
    v0 = {0: np.array([-50.0]), 1: np.array([-70.0, -65.0, -60.0])}
    star, _ = _run(groups, [gap.GapJunctions(0, [0, 0, 0, 0], 1, [0, 1, 2, 2],
                                             [10.0, 20.0, 15.0, 15.0])], 50, v0)
    groups = [engine.NeuronGroup(_passive(1), 1), engine.NeuronGroup(_passive(3), 3)]
    summed, _ = _run(groups, [gap.GapJunctions(0, [0, 0, 0], 1, [0, 1, 2],
                                               [10.0, 20.0, 30.0])], 50, v0)
    np.testing.assert_allclose(star, summed, rtol=0, atol=1e-12)
    # first step by hand: I_0 = Σ g (V_j − V_0), P20 = τ/C (1 − e^{−h/τ})
    P20 = TAU_M / C_M * (1 - np.exp(-0.1 / TAU_M))
    I0 = 10.0 * (-70 + 50) + 20.0 * (-65 + 50) + 30.0 * (-60 + 50)
    expected = E_L + (-50.0 - E_L) * np.exp(-0.1 / TAU_M) + I0 * P20
    assert star[0, 0] == pytest.approx(expected, abs=1e-12)


def test_weights_change_between_runs_without_recompiling():
    groups = [engine.NeuronGroup(_passive(), 2)]
    junction = gap.GapJunctions(0, [0], 0, [1], [0.0])
    first, net = _run(groups, [junction], 50, {0: V0})
    compiled = dict(net._compiled)
    junction.set_weight(30.0)
    out = []
    net.run(50, lambda m0, k, rec: out.append(np.concatenate(rec, axis=1)))
    assert net._compiled == compiled
    V = out[0]
    # from then on the difference shrinks faster than with the leak alone
    d = V[:, 0] - V[:, 1]
    d_leak = (first[-1, 0] - first[-1, 1]) * np.exp(-0.1 * np.arange(1, 51) / TAU_M)
    assert np.all(d[5:] < d_leak[5:] - 1e-3)
    # chunking does not change results
    net.reset()
    groups[0].model.set_state_value("V_m", V0)
    a = []
    net.run(70, lambda m0, k, rec: a.append(np.concatenate(rec, axis=1)))
    net.reset()
    groups[0].model.set_state_value("V_m", V0)
    b = []
    for n in (13, 57):
        net.run(n, lambda m0, k, rec: b.append(np.concatenate(rec, axis=1)))
    assert np.array_equal(np.concatenate(a), np.concatenate(b))


def _models():
    point = dict(E_L=-70.0, V_th=-50.0)
    return {
        "glif_cond": lambda n: models.glif_cond(n),
        "iaf_psc_alpha": lambda n: models.iaf_psc_alpha(n, **point),
        "iaf_psc_exp": lambda n: models.iaf_psc_exp(n, **point),
        "iaf_psc_delta": lambda n: models.iaf_psc_delta(n, **point),
        "iaf_cond_alpha": lambda n: models.iaf_cond_alpha(n),
        "iaf_cond_exp": lambda n: models.iaf_cond_exp(n),
        "iaf_cond_exp_sfa_rr": lambda n: models.iaf_cond_exp_sfa_rr(n),
        "aeif_cond_alpha": lambda n: models.aeif_cond_alpha(n),
        "aeif_cond_exp": lambda n: models.aeif_cond_exp(n),
        "izhikevich": lambda n: models.izhikevich(n),
        "hh_cond_exp_traub": lambda n: models.hh_cond_exp_traub(n),
        "gif_cond_exp": lambda n: models.gif_cond_exp(n, seed=1),
        "iaf_psc_exp_multisynapse": lambda n: models.iaf_psc_exp_multisynapse(n),
        "aeif_cond_alpha_multisynapse": lambda n: models.aeif_cond_alpha_multisynapse(n),
        "aeif_cond_beta_multisynapse": lambda n: models.aeif_cond_beta_multisynapse(n),
    }


@pytest.mark.parametrize("name", sorted(_models()))
def test_every_model_is_coupled_through_its_input_current(name):
    """Two cells 4 mV apart below threshold: a junction shrinks their difference compared with
    the same cells uncoupled, and the coupled pair's first step equals the uncoupled one
    driven by the gap currents as external currents (the same number through I_stim)."""
    make = _models()[name]
    v0 = None

    def run(junctions, current=None, steps=20):
        nonlocal v0
        model = make(2)
        groups = [engine.NeuronGroup(model, 2)]
        with brainstate.environ.context(dt=0.1, precision=64):
            net = engine.Network(groups, [], [], dt=0.1, gap_junctions=junctions)
            if v0 is None:
                rest = float(np.asarray(model.recordable("V_m")).reshape(-1)[0])
                v0 = np.array([rest + 2.0, rest - 2.0])
            model.set_state_value("V_m", v0)
            if current is not None:
                model.I_stim.value = np.asarray(current, float).reshape(model.I_stim.value.shape)
            net.set_probes([engine.Probe(0, "V_m", np.arange(2))])
            out = []
            net.run(steps, lambda m0, k, rec: out.append(rec[0]))
        return np.concatenate(out)

    g = 5.0
    coupled = run([gap.GapJunctions(0, [0], 0, [1], [g])])
    alone = run([])
    assert np.all(np.isfinite(coupled))
    assert np.all(np.abs(coupled[:, 0] - coupled[:, 1]) < np.abs(alone[:, 0] - alone[:, 1]))
    first = run([], current=g * (v0[::-1] - v0), steps=1)
    np.testing.assert_allclose(coupled[0], first[0], rtol=0, atol=1e-10)


def test_current_scale_converts_the_current_per_side():
    """scale_a = 2 doubles what side a receives, side b is unchanged."""
    groups = [engine.NeuronGroup(_passive(1), 1), engine.NeuronGroup(_passive(1), 1)]
    V, _ = _run(groups, [gap.GapJunctions(0, [0], 1, [0], [10.0], current_scale_a=2.0)], 1,
                {0: V0[:1], 1: V0[1:]})
    P22, P20 = np.exp(-0.1 / TAU_M), TAU_M / C_M * (1 - np.exp(-0.1 / TAU_M))
    I = 10.0 * (V0[1] - V0[0])
    assert V[0, 0] == pytest.approx(E_L + (V0[0] - E_L) * P22 + 2 * I * P20, abs=1e-12)
    assert V[0, 1] == pytest.approx(E_L + (V0[1] - E_L) * P22 - I * P20, abs=1e-12)


def test_bad_input_is_refused():
    neurons = engine.NeuronGroup(_passive(), 2)
    source = engine.SpikeArrayGroup(1, [np.array([3])])
    with pytest.raises(ValueError, match="neuron models"):
        engine.Network([neurons, source], [], [], dt=0.1,
                       gap_junctions=[gap.GapJunctions(0, [0], 1, [0], [1.0])])
    with pytest.raises(ValueError, match="out of range"):
        engine.Network([neurons], [], [], dt=0.1,
                       gap_junctions=[gap.GapJunctions(0, [0], 0, [2], [1.0])])
    with pytest.raises(ValueError, match="weight"):
        gap.GapJunctions(0, [0], 0, [1], [-1.0])
    with pytest.raises(ValueError, match="weight"):
        gap.GapJunctions(0, [0], 0, [1], [np.nan])
    with pytest.raises(ValueError, match="as many"):
        gap.GapJunctions(0, [0, 1], 0, [1], [1.0])
