"""SpikeSourceGamma, SpikeSourcePoissonRefractory and SpikeSourceInhGamma
(pynn_brainpy/standardmodels/sources_stochastic.py): interval statistics against the
theoretical distributions, start/duration, reproducibility (seed, reset, run splitting),
parameter changes between runs, and bad parameter values.

Every statistical test uses a fixed seed, so it is deterministic; its tolerances are chosen
so that a correct generator passes for practically every seed (p-value thresholds of 1e-3,
rates within 5 standard errors) while the distinct alternatives named in each test fail.
"""

import re

import numpy as np
import pytest
from scipy import stats

import pynn_brainpy as sim
from pyNN import errors
from pyNN.parameters import Sequence

DT = 0.1


def _isis(trains):
    return np.concatenate([np.diff(st) for st in trains])


def _lattice_ks(isi, cdf, dt=DT):
    """Largest distance between the empirical CDF of lattice ISIs (multiples of ``dt``) and
    the exact CDF of the discrete distribution, evaluated at the lattice points."""
    k = np.rint(isi / dt).astype(int)
    assert np.allclose(isi, k * dt, atol=1e-6), "ISIs are not on the time grid"
    ks = np.arange(1, k.max() + 1)
    ecdf = np.searchsorted(np.sort(k), ks, side="right") / k.size
    return np.max(np.abs(ecdf - cdf(ks)))


def _ks_bound(n, level=1.95):
    """Two-sided KS critical value at about p = 0.001 for ``n`` samples."""
    return level / np.sqrt(n)


def _gamma_cdf_step_mean(k, alpha, scale, dt=DT):
    """(1/dt) ∫ F over [k·dt, (k+1)·dt] for the gamma CDF F, with
    ∫_0^x F_alpha = x·F_alpha(x) - alpha·scale·F_{alpha+1}(x)."""
    def integral(x):
        return (x * stats.gamma.cdf(x, alpha, scale=scale)
                - alpha * scale * stats.gamma.cdf(x, alpha + 1, scale=scale))
    k = np.asarray(k, float)
    return (integral((k + 1) * dt) - integral(k * dt)) / dt


# ============================================================================ one network
# All statistical tests read one simulation (compiling a network costs seconds; one network
# with many populations keeps this module fast).
T_STATS = 1000.0
GAMMA_CASES = [(3.0, 300.0), (1.0, 80.0), (2.5, 125.0), (0.5, 25.0)]   # (alpha, beta Hz)
REFRAC_CASES = [(50.0, 5.0), (100.0, 0.0), (200.0, 2.35)]             # (rate Hz, tau ms)
N_CASE = 100
INH_A, INH_B, INH_T = [1.0, 4.0, 2.0], [0.01, 0.0025, 0.01], [100.0, 400.0, 700.0]


@pytest.fixture(scope="module")
def stats_run():
    sim.setup(timestep=DT, rng_seed=11)
    alpha = np.repeat([a for a, _ in GAMMA_CASES], N_CASE)
    beta = np.repeat([b for _, b in GAMMA_CASES], N_CASE)
    rate = np.repeat([r for r, _ in REFRAC_CASES], N_CASE)
    tau = np.repeat([t for _, t in REFRAC_CASES], N_CASE)
    pops = {
        "gamma": sim.Population(alpha.size, sim.SpikeSourceGamma(alpha=alpha, beta=beta)),
        "gamma_eq": sim.Population(400, sim.SpikeSourceGamma(alpha=4.0, beta=800.0)),
        "gamma_window": sim.Population(20, sim.SpikeSourceGamma(
            alpha=2.0, beta=2000.0, start=20.0, duration=30.0)),
        "gamma_fast": sim.Population(10, sim.SpikeSourceGamma(alpha=1.0, beta=20000.0,
                                                              duration=50.0)),
        "refrac": sim.Population(rate.size, sim.SpikeSourcePoissonRefractory(
            rate=rate, tau_refrac=tau)),
        "refrac_window": sim.Population(2, sim.SpikeSourcePoissonRefractory(
            rate=[500.0, 0.0], tau_refrac=1.0, start=10.0, duration=20.0)),
        "inh_const": sim.Population(N_CASE, sim.SpikeSourceInhGamma(
            a=Sequence([3.0]), b=Sequence([0.004]), tbins=Sequence([0.0]))),
        "inh_hist": sim.Population(200, sim.SpikeSourceInhGamma(
            a=Sequence(INH_A), b=Sequence(INH_B), tbins=Sequence(INH_T))),
        "inh_window": sim.Population(2, sim.SpikeSourceInhGamma(
            a=[Sequence([1.0]), Sequence([1.0, 1.0])],
            b=[Sequence([0.001]), Sequence([1e9, 0.001])],
            tbins=[Sequence([0.0]), Sequence([0.0, 30.0])], start=5.0, duration=40.0)),
    }
    for p in pops.values():
        p.record("spikes")
    sim.run(T_STATS)
    out = {k: [np.asarray(st.magnitude, float) for st in p.get_data().segments[0].spiketrains]
           for k, p in pops.items()}
    sim.end()
    return out


# ============================================================================ gamma
@pytest.mark.parametrize("case", range(len(GAMMA_CASES)))
def test_gamma_interval_distribution(stats_run, case):
    """ISIs ~ Gamma(alpha, scale 1000/beta ms) up to the grid: exact lattice KS test, mean
    rate beta/alpha, CV 1/sqrt(alpha); non-integer alpha included (pyNN.neuron allows it)."""
    alpha, beta = GAMMA_CASES[case]
    trains = stats_run["gamma"][case * N_CASE:(case + 1) * N_CASE]
    t_stop, n = T_STATS, N_CASE
    isi = _isis(trains)
    rate = beta / alpha
    expected = rate * t_stop / 1000.0 * n
    counts = sum(st.size for st in trains)
    # the count of a renewal process has variance ~ expected · CV²
    assert abs(counts - expected) < 5 * np.sqrt(expected / alpha) + 1
    assert np.isclose(isi.std() / isi.mean(), 1 / np.sqrt(alpha), rtol=0.05)
    # recorded ISIs are differences of spike times rounded up to the grid: with a uniform
    # grid phase u, P(ISI <= k·dt) = mean over u of F((k+u)·dt) = (1/dt) ∫_{k dt}^{(k+1) dt} F
    # (two spikes in one step are both recorded, at the same time: k = 0 is an interval too)
    D = _lattice_ks(isi, lambda k: _gamma_cdf_step_mean(k, alpha, 1000.0 / beta))
    assert D < _ks_bound(isi.size), D
    # the same ISIs are clearly not exponential (Poisson) unless alpha = 1
    if alpha != 1.0:
        assert stats.kstest(isi, "expon", args=(0, isi.mean())).pvalue < 1e-6


def test_gamma_starts_in_equilibrium(stats_run):
    """The first spike comes after the stationary forward-recurrence time: the rate is
    beta/alpha from the first millisecond (a start 'just after a spike' would give too few
    early spikes for alpha > 1), and the first-spike latency has mean (alpha+1)/(2 beta)."""
    alpha, beta = 4.0, 800.0
    trains = stats_run["gamma_eq"]
    n = len(trains)
    early = sum(np.count_nonzero(st <= 5.0) for st in trains)
    expected = beta / alpha * 5.0 / 1000.0 * n              # 400
    assert abs(early - expected) < 5 * np.sqrt(expected)
    first = np.array([st[0] for st in trains if st.size])
    assert np.isclose(first.mean(), 1000.0 * (alpha + 1) / (2 * beta), rtol=0.08)


def test_gamma_start_duration(stats_run):
    allspikes = np.concatenate(stats_run["gamma_window"])
    assert allspikes.size > 500
    assert allspikes.min() > 20.0 and allspikes.max() <= 50.0 + 1e-9


def test_gamma_high_rate_multiple_spikes_per_step(stats_run):
    """beta·dt = 2 (alpha = 1, a 20 kHz Poisson process): every spike is recorded, also
    several of one cell in one step (as NEST records a spike of multiplicity n n times): 2
    per step on average, and steps with more than one."""
    trains = stats_run["gamma_fast"]
    per_step = np.mean([st.size for st in trains]) / 500
    assert np.isclose(per_step, 2.0, atol=0.1)          # 5 standard errors (10 cells)
    assert min(np.sum(np.diff(st) == 0) for st in trains) > 100


# ============================================================================ refractory
@pytest.mark.parametrize("case", range(len(REFRAC_CASES)))
def test_refractory_interval_distribution(stats_run, case):
    """NEST's ppd_sup_generator on the grid: ISI = n·dt + Geometric(p)·dt with
    n = int(tau_refrac/dt) and p = dt/(1000/rate - tau_refrac). No ISI below tau_refrac;
    the exact discrete distribution fits; the mean is n·dt + 1000/rate - tau_refrac."""
    rate, tau_refrac = REFRAC_CASES[case]
    trains = stats_run["refrac"][case * N_CASE:(case + 1) * N_CASE]
    isi = _isis(trains)
    assert isi.min() >= tau_refrac - 1e-9
    n_dead = int(tau_refrac / DT)
    p = DT / (1000.0 / rate - tau_refrac)
    assert isi.min() >= (n_dead + 1) * DT - 1e-9
    D = _lattice_ks(isi, lambda k: np.where(k > n_dead, 1 - (1 - p) ** (k - n_dead), 0.0))
    assert D < _ks_bound(isi.size), D
    mean_isi = n_dead * DT + 1000.0 / rate - tau_refrac
    sem = (1000.0 / rate - tau_refrac) / np.sqrt(isi.size)
    assert abs(isi.mean() - mean_isi) < 5 * sem
    # CV of tau + exponential: (1000/rate - tau)/(1000/rate); 0.5 for 100 Hz with 5 ms
    assert np.isclose(isi.std() / isi.mean(), (mean_isi - n_dead * DT) / mean_isi, rtol=0.05)
    # PyNN's own check: the shifted ISIs look exponential
    D, _ = stats.kstest(isi - tau_refrac, "expon", args=(0, 1000.0 / rate - tau_refrac))
    assert D < 0.05


def test_refractory_start_duration_and_zero_rate(stats_run):
    trains = stats_run["refrac_window"]
    assert trains[0].size > 3 and trains[0].min() > 10.0 and trains[0].max() <= 30.0 + 1e-9
    assert trains[1].size == 0


# ============================================================================ inhomogeneous gamma
def test_inh_gamma_constant_parameters_is_gamma(stats_run):
    """Constant a, b: a gamma renewal process of rate 1/(a·b). On the grid the ISI is the
    gamma interval rounded up to the step: its CDF at k·dt is exactly F_gamma(k·dt)."""
    a, b = 3.0, 0.004                                         # rate 83.3 Hz
    trains = stats_run["inh_const"]
    isi = _isis(trains)
    D = _lattice_ks(isi, lambda k: stats.gamma.cdf(k * DT, a, scale=1000.0 * b))
    assert D < _ks_bound(isi.size), D
    assert np.isclose(isi.std() / isi.mean(), 1 / np.sqrt(a), rtol=0.05)
    counts = sum(st.size for st in trains)
    expected = T_STATS / (1000.0 * a * b) * len(trains)
    assert abs(counts - expected) < 5 * np.sqrt(expected / a) + 0.02 * expected


def test_inh_gamma_time_histogram(stats_run):
    """Piecewise-constant a(t), b(t): silent before tbins[0], then the rate of each bin
    (1/(a·b)), and the regularity (CV) of each bin."""
    trains = stats_run["inh_hist"]
    n = len(trains)
    allspikes = np.concatenate(trains)
    assert allspikes.min() > 100.0
    for (lo, hi), ai, bi in zip([(100, 400), (400, 700), (700, 1000)], INH_A, INH_B):
        # skip the first 100 ms of a bin (the transient after a change of a, b)
        sel = (allspikes > lo + 100) & (allspikes <= hi)
        expected = n * (hi - lo - 100) / (1000.0 * ai * bi)
        assert abs(sel.sum() - expected) < 5 * np.sqrt(expected) + 0.03 * expected, (lo, ai)
        isi = np.concatenate([np.diff(st[(st > lo + 100) & (st <= hi)]) for st in trains])
        assert np.isclose(isi.std() / isi.mean(), 1 / np.sqrt(ai), rtol=0.12), (lo, ai)


def test_inh_gamma_per_cell_histograms_and_window(stats_run):
    trains = stats_run["inh_window"]
    assert trains[0].size > 10 and trains[0].min() > 5.0 and trains[0].max() <= 45.0 + 1e-9
    assert trains[1].size > 5 and trains[1].min() > 30.0 and trains[1].max() <= 45.0 + 1e-9


# ============================================================================ reproducibility
T_REP = 102.4                          # 1024 steps: halves of 512 steps


def _rep_network(seed):
    sim.setup(timestep=DT, rng_seed=seed)
    pops = [sim.Population(50, sim.SpikeSourceGamma(alpha=2.0, beta=40.0)),
            sim.Population(50, sim.SpikeSourcePoissonRefractory(rate=20.0, tau_refrac=1.0)),
            sim.Population(50, sim.SpikeSourceInhGamma(a=Sequence([2.0, 1.0]),
                                                       b=Sequence([0.025, 0.05]),
                                                       tbins=Sequence([0.0, 50.0])))]
    for p in pops:
        p.record("spikes")
    return pops


def _segment(pops, i):
    return [[np.asarray(st.magnitude) for st in p.get_data().segments[i].spiketrains]
            for p in pops]


def _same(x, y):
    return all(a.size == b.size and np.all(a == b) for u, v in zip(x, y) for a, b in zip(u, v))


@pytest.fixture(scope="module")
def rep_runs():
    pops = _rep_network(42)
    sim.run(T_REP)
    sim.reset()
    sim.run(T_REP)
    first, replay = _segment(pops, 0), _segment(pops, 1)
    sim.end()
    pops = _rep_network(43)
    sim.run(T_REP)
    other = _segment(pops, 0)
    sim.end()
    # split runs, then new parameters between runs (the same compiled chunk throughout)
    pops = _rep_network(42)
    sim.run(T_REP / 2)
    sim.run(T_REP / 2)
    split = _segment(pops, 0)
    pops[0].set(beta=320.0)                                   # 20 Hz -> 160 Hz
    pops[1].set(rate=160.0, tau_refrac=2.0)
    # (the same number of bins: the compiled step is reused)
    pops[2].set(a=Sequence([2.0, 2.0]), b=Sequence([0.003125, 0.003125]),
                tbins=Sequence([0.0, 10.0]))
    for _ in range(8):
        sim.run(T_REP / 2)
    changed = _segment(pops, 0)
    beta = pops[0].get("beta")
    sim.end()
    return dict(first=first, replay=replay, other=other, split=split, changed=changed,
                beta=beta)


def test_reproducible_seed_reset_and_run_splitting(rep_runs):
    first = rep_runs["first"]
    assert all(sum(st.size for st in pop) > 20 for pop in first)
    assert _same(first, rep_runs["replay"])                  # reset() replays
    assert _same(first, rep_runs["split"])                   # chunking does not matter
    for a, b in zip(first, rep_runs["other"]):              # another seed, other trains
        assert not _same([a], [b])
    for pop in first:                                        # cells are independent
        assert not _same([pop[:-1]], [pop[1:]])


def test_parameter_change_between_runs(rep_runs):
    """New values apply in the next run (no rebuild): rates follow them."""
    assert np.allclose(rep_runs["beta"], 320.0)
    t_change = T_REP
    for pop in rep_runs["changed"]:
        n1 = sum(np.count_nonzero(s <= t_change) for s in pop)
        n2 = sum(np.count_nonzero(s > t_change + 50.0) for s in pop)  # after the transient
        d2 = (4 * T_REP - 50.0) / 1000.0
        expected1, expected2 = 50 * T_REP / 1000.0 * 20, 50 * d2 * 160
        assert abs(n1 - expected1) < 5 * np.sqrt(expected1) + 5, n1
        assert abs(n2 - expected2) < 5 * np.sqrt(expected2) + 0.03 * expected2, n2
    refrac = rep_runs["changed"][1]
    isi2 = np.concatenate([np.diff(s[s > t_change]) for s in refrac])
    assert isi2.min() >= 2.0


# ============================================================================ bad inputs
@pytest.mark.parametrize("celltype, params, name", [
    (sim.SpikeSourceGamma, {"alpha": 0.0}, "alpha"),
    (sim.SpikeSourceGamma, {"alpha": -1.0}, "alpha"),
    (sim.SpikeSourceGamma, {"beta": -5.0}, "beta"),
    (sim.SpikeSourceGamma, {"start": -1.0}, "start"),
    (sim.SpikeSourceGamma, {"duration": -1.0}, "duration"),
    (sim.SpikeSourcePoissonRefractory, {"rate": -1.0}, "rate"),
    (sim.SpikeSourcePoissonRefractory, {"tau_refrac": -0.5}, "tau_refrac"),
    (sim.SpikeSourcePoissonRefractory, {"rate": 200.0, "tau_refrac": 5.0}, "tau_refrac"),
    (sim.SpikeSourcePoissonRefractory, {"rate": float("nan")}, "rate"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([1.0, 2.0]), "b": Sequence([0.1, 0.1]),
                               "tbins": Sequence([10.0, 5.0])}, "tbins"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([1.0, 2.0]), "b": Sequence([0.1, 0.1]),
                               "tbins": Sequence([0.0, 0.0])}, "tbins"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([1.0, 2.0]), "b": Sequence([0.1]),
                               "tbins": Sequence([0.0, 5.0])}, "same length"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([0.0]), "b": Sequence([0.1]),
                               "tbins": Sequence([0.0])}, "a (gamma shape)"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([1.0]), "b": Sequence([-0.1]),
                               "tbins": Sequence([0.0])}, "b (gamma scale"),
    (sim.SpikeSourceInhGamma, {"a": Sequence([]), "b": Sequence([]),
                               "tbins": Sequence([])}, "tbins"),
])
def test_bad_parameters(celltype, params, name):
    sim.setup(timestep=DT)
    with pytest.raises(errors.InvalidParameterValueError, match=re.escape(name)):
        sim.Population(2, celltype(**params))
    # the same values given later with set() are refused too, and leave the old ones
    pop = sim.Population(2, celltype())
    before = {k: pop.get(k) for k in params}
    with pytest.raises(errors.InvalidParameterValueError, match=re.escape(name)):
        pop.set(**params)
    for k, v in before.items():
        after = pop.get(k)
        assert repr(after) == repr(v)
    sim.end()


def test_refractory_hazard_above_one_per_step():
    """1000/rate - tau_refrac shorter than a step cannot be simulated on this grid."""
    sim.setup(timestep=1.0)
    pop = sim.Population(1, sim.SpikeSourcePoissonRefractory(rate=900.0, tau_refrac=0.5))
    pop.record("spikes")
    with pytest.raises(errors.InvalidParameterValueError, match="time step"):
        sim.run(10.0)
    sim.end()
