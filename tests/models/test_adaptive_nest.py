"""aeif_cond_alpha, aeif_cond_exp, izhikevich, hh_cond_exp_traub and gif_cond_exp against
NEST 3.10, live.

Every neuron gets spikes from ``spike_generator`` s on both receptors (NEST: positive weights
excitatory, negative inhibitory; ours: ``receptor_0`` / ``receptor_1``) and a ``dc_generator``
step, all over a delay of 1 ms, at dt = 0.1 ms. Deterministic models: identical spike steps
and |ΔV_m| <= 1e-6 mV (observed: ~1e-10 mV, the same algorithms in the same arithmetic order).
gif_cond_exp: identical spike trains where the escape noise is made deterministic (huge
``lambda_0``, tiny ``Delta_V``), and the same rate and ISI statistics as NEST over 400
neurons in the stochastic regime (different random streams).
"""

from collections import defaultdict

import brainstate
import numpy as np
import pytest

from pynn_brainpy.engine.drive import run_model
from pynn_brainpy.models.aeif_cond import aeif_cond_alpha, aeif_cond_exp
from pynn_brainpy.models.gif_cond_exp import gif_cond_exp
from pynn_brainpy.models.hh_cond_exp_traub import hh_cond_exp_traub
from pynn_brainpy.models.izhikevich import izhikevich

nest = pytest.importorskip("nest")

DT = 0.1
T_SIM = 300.0
DELAY = 1.0
TOL_MV = 1e-6


# ------------------------------------------------------------------------------ harness
def run_nest(model, params, n, spikes=(), currents=(), record=("V_m",), init=None, seed=1,
             t_sim=T_SIM, multimeter=True):
    """Simulate ``n`` NEST neurons; spikes (i, port 0/1, t, |w|), currents (i, start, stop,
    pA). Returns sample stamps, recordables (n_samples, n) and spike trains."""
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(resolution=DT, rng_seed=seed, local_num_threads=1)
    nrn = nest.Create(model, n)
    for i, p in enumerate(params if isinstance(params, list) else [params] * n):
        nrn[i].set(p)
    if init:
        nrn.set(init)
    trains = defaultdict(lambda: defaultdict(float))
    for i, port, t, w in spikes:
        trains[(i, port)][t] += w if port == 0 else -w
    for (i, port), d in trains.items():
        times = sorted(d)
        sg = nest.Create("spike_generator", params={
            "spike_times": times, "spike_weights": [d[t] for t in times]})
        nest.Connect(sg, nrn[i], syn_spec={"delay": DELAY, "weight": 1.0})
    for i, start, stop, amp in currents:
        dc = nest.Create("dc_generator", params={"amplitude": amp, "start": start,
                                                 "stop": stop})
        nest.Connect(dc, nrn[i], syn_spec={"delay": DELAY})
    out = {}
    if multimeter:
        mm = nest.Create("multimeter", params={"interval": DT, "record_from": list(record)})
        nest.Connect(mm, nrn)
    sr = nest.Create("spike_recorder")
    nest.Connect(nrn, sr)
    nest.Simulate(t_sim)
    if multimeter:
        ev = mm.get("events")
        out["times"] = np.unique(ev["times"])
        for name in record:
            arr = np.empty((out["times"].size, n))
            for j, gid in enumerate(nrn.tolist()):
                sel = ev["senders"] == gid
                arr[:, j] = ev[name][sel][np.argsort(ev["times"][sel])]
            out[name] = arr
    se = sr.get("events")
    out["spikes"] = [np.sort(se["times"][se["senders"] == gid]) for gid in nrn.tolist()]
    return out


def run_ours(model, n, spikes=(), currents=(), record=("V_m",), init=None, t_sim=T_SIM):
    """The same inputs for one of our models (NEST's timing: a spike at t over delay d is a
    delta input in step (t + d)/dt − 1; a dc current on [start, stop) acts on
    (start + d, stop + d])."""
    n_steps = int(round(t_sim / DT))
    delta = {f"receptor_{k}": np.zeros((n_steps, n)) for k in range(2)}
    for i, port, t, w in spikes:
        step = int(round((t + DELAY) / DT)) - 1
        if step < n_steps:
            delta[f"receptor_{port}"][step, i] += w
    current = np.zeros((n_steps, n))
    for i, start, stop, amp in currents:
        first = max(int(round((start + DELAY) / DT)) - 1, int(round(DELAY / DT)))
        last = int(round((stop + DELAY) / DT)) - 2
        current[first:last + 1, i] += amp
    with brainstate.environ.context(dt=DT, precision=64):
        m = model()
        m.init_state()
        for k, v in (init or {}).items():
            m.set_state_value(k, v)
        out = run_model(m, n_steps, delta=delta, current=current, record=record)
    out["spike_times"] = [(np.flatnonzero(out["spikes"][:, i]) + 1) * DT for i in range(n)]
    return out


def random_spikes(n, seed, w_range, n_per=40, t_max=T_SIM - 5):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        times = np.round(np.sort(rng.uniform(1.0, t_max, n_per)), 1)
        for port, t, w in zip(rng.integers(0, 2, n_per), times, rng.uniform(*w_range, n_per)):
            out.append((i, int(port), float(t), float(w)))
    return out


def stacked(cls, params):
    return {k: np.array([p.get(k, cls.defaults[k]) for p in params], float)
            for k in cls.defaults if any(k in p for p in params)}


def compare(ours, ref, record, n):
    for i in range(n):
        assert len(ours["spike_times"][i]) == len(ref["spikes"][i]), f"spike count of {i}"
        np.testing.assert_allclose(ours["spike_times"][i], ref["spikes"][i], atol=1e-9,
                                   err_msg=f"spike times of neuron {i}")
    k0 = int(round(ref["times"][0] / DT)) - 1
    worst = {}
    for name in record:
        diff = np.abs(ours[name][k0:k0 + ref["times"].size] - ref[name])
        worst[name] = float(np.max(diff))
        assert worst[name] <= TOL_MV, f"max |Δ{name}| = {worst[name]}"
    return worst


# ------------------------------------------------------------------------------ AdEx
AEIF_PARAMS = [dict(t_ref=0.0),
               dict(t_ref=2.0, a=2.0, b=60.0, V_reset=-58.0, tau_syn_ex=1.5),
               dict(Delta_T=0.0, t_ref=1.0, V_peak=-50.4)]
AEIF_CURRENTS = [(0, 50.0, 250.0, 800.0), (1, 20.0, 280.0, 800.0), (2, 100.0, 290.0, 1000.0)]


@pytest.mark.parametrize("cls", [aeif_cond_alpha, aeif_cond_exp])
def test_aeif_matches_nest(cls):
    n = len(AEIF_PARAMS)
    spikes = random_spikes(n, 1, (5.0, 40.0))
    record = ["V_m", "g_ex", "g_in", "w"]
    ref = run_nest(cls.nest_name, AEIF_PARAMS, n, spikes, AEIF_CURRENTS, record)
    ours = run_ours(lambda: cls(n, **stacked(cls, AEIF_PARAMS)), n, spikes, AEIF_CURRENTS,
                    record)
    compare(ours, ref, record, n)
    assert all(len(s) >= 2 for s in ref["spikes"])


def test_aeif_fast_firing_and_refractory_clamp():
    """t_ref = 0 with a reset close to threshold and a strong current (spikes a few steps
    apart, detected inside the integration loop); V held at V_reset during t_ref > 0."""
    params = [dict(t_ref=0.0, b=5.0, V_reset=-51.0),
              dict(t_ref=5.0, b=10.0, V_reset=-45.0)]
    currents = [(0, 5.0, 200.0, 2500.0), (1, 5.0, 200.0, 3000.0)]
    record = ["V_m", "w"]
    ref = run_nest("aeif_cond_exp", params, 2, (), currents, record, t_sim=200.0)
    ours = run_ours(lambda: aeif_cond_exp(2, **stacked(aeif_cond_exp, params)), 2, (),
                    currents, record, t_sim=200.0)
    compare(ours, ref, record, 2)
    assert len(ref["spikes"][0]) > 20


# ------------------------------------------------------------------------------ Izhikevich
IZH_PARAMS = [dict(a=0.02, b=0.2, c=-65.0, d=8.0), dict(a=0.02, b=0.25, c=-55.0, d=0.05),
              dict(a=0.1, b=0.2, c=-50.0, d=2.0, V_min=-80.0)]


@pytest.mark.parametrize("consistent", [True, False])
def test_izhikevich_matches_nest(consistent):
    n = len(IZH_PARAMS)
    spikes = random_spikes(n, 2, (1.0, 10.0))
    currents = [(0, 50.0, 250.0, 10.0), (1, 20.0, 280.0, 5.0), (2, 100.0, 290.0, 12.0)]
    init = dict(V_m=-70.0, U_m=-14.0)
    record = ["V_m", "U_m"]
    ref = run_nest("izhikevich", [dict(p, consistent_integration=consistent)
                                  for p in IZH_PARAMS], n, spikes, currents, record, init)
    # NEST's weights: + on port 0, − on port 1; ours: the signed jump on either port
    signed = [(i, port, t, w if port == 0 else -w) for i, port, t, w in spikes]
    ours = run_ours(lambda: izhikevich(n, consistent_integration=consistent,
                                       **stacked(izhikevich, IZH_PARAMS)),
                    n, signed, currents, record, init)
    compare(ours, ref, record, n)
    assert all(len(s) >= 5 for s in ref["spikes"])


# ------------------------------------------------------------------------------ HH
def test_hh_cond_exp_traub_matches_nest():
    params = [dict(), dict(g_Na=15000.0, t_ref=3.0, E_L=-65.0), dict(tau_syn_ex=0.5, t_ref=0.0)]
    n = len(params)
    spikes = random_spikes(n, 3, (5.0, 60.0))
    currents = [(0, 50.0, 250.0, 600.0), (1, 20.0, 280.0, 800.0), (2, 100.0, 290.0, 1000.0)]
    init = dict(V_m=-65.0, Act_m=0.0, Inact_h=1.0, Act_n=0.0)
    record = ["V_m", "g_ex", "g_in", "Act_m", "Inact_h", "Act_n"]
    ref = run_nest("hh_cond_exp_traub", params, n, spikes, currents, record, init)
    ours = run_ours(lambda: hh_cond_exp_traub(n, **stacked(hh_cond_exp_traub, params)), n,
                    spikes, currents, record, init)
    compare(ours, ref, record, n)
    assert all(len(s) >= 10 for s in ref["spikes"])


def test_hh_default_initial_state_is_nests():
    with brainstate.environ.context(dt=DT, precision=64):
        m = hh_cond_exp_traub(1)
        m.init_state()
        d = nest.GetDefaults("hh_cond_exp_traub")
        for name in ("V_m", "Act_m", "Inact_h", "Act_n"):
            np.testing.assert_allclose(np.asarray(m.recordable(name)), d[name], rtol=1e-14)


# ------------------------------------------------------------------------------ GIF
GIF_BASE = dict(tau_stc=[1.0, 10.0, 100.0], q_stc=[10.0, 20.0, 30.0], tau_sfa=[1.0, 10.0, 100.0],
                q_sfa=[1.0, 2.0, 3.0], C_m=1000.0, g_L=50.0, E_L=-65.0, V_reset=-65.0,
                V_T_star=-48.0, t_ref=4.0, tau_syn_ex=5.0, tau_syn_in=5.0, E_in=-70.0)


def test_gif_matches_nest_where_the_noise_is_deterministic():
    """lambda_0 = 1e10/s with Delta_V = 0.2 uV: the hazard jumps from ~0 to 1 within a
    few uV, so both simulators fire in the same steps whatever their random numbers."""
    params = [dict(GIF_BASE, lambda_0=1e10, Delta_V=0.0002),
              dict(GIF_BASE, lambda_0=1e10, Delta_V=0.0002, t_ref=2.0, q_stc=[5.0, 0.0, 50.0]),
              dict(GIF_BASE, lambda_0=0.0)]
    n = len(params)
    spikes = random_spikes(n, 4, (5.0, 60.0))
    currents = [(0, 50.0, 250.0, 1500.0), (1, 20.0, 280.0, 2000.0), (2, 100.0, 290.0, 1000.0)]
    init = dict(V_m=-65.0)
    record = ["V_m", "g_ex", "g_in", "E_sfa", "I_stc"]
    ref = run_nest("gif_cond_exp", params, n, spikes, currents, record, init)
    kw = stacked(gif_cond_exp, params)
    ours = run_ours(lambda: gif_cond_exp(n, **kw), n, spikes, currents, record, init)
    compare(ours, ref, record, n)
    assert len(ref["spikes"][0]) >= 5 and len(ref["spikes"][1]) >= 5


def test_gif_spike_statistics_match_nest():
    """400 independent neurons, constant drive: spike counts and ISIs agree with NEST in
    distribution (the random streams differ)."""
    from scipy.stats import ks_2samp
    p = dict(GIF_BASE, q_stc=[200.0, 100.0, 50.0], q_sfa=[2.0, 1.0, 0.5], lambda_0=2.0,
             Delta_V=1.0, I_e=1500.0)
    n, t_sim = 400, 1000.0
    ref = run_nest("gif_cond_exp", p, n, init=dict(V_m=-65.0), seed=12, t_sim=t_sim,
                   multimeter=False)
    ours = run_ours(lambda: gif_cond_exp(n, seed=5, **p), n, init=dict(V_m=-65.0),
                    t_sim=t_sim)
    cn = np.array([s.size for s in ref["spikes"]])
    co = np.array([s.size for s in ours["spike_times"]])
    assert cn.mean() > 10
    se = np.sqrt(cn.var() / n + co.var() / n)
    assert abs(cn.mean() - co.mean()) < 4 * se, (cn.mean(), co.mean(), se)
    isi = lambda trains: np.concatenate([np.diff(t) for t in trains if t.size > 1])
    assert ks_2samp(isi(ours["spike_times"]), isi(ref["spikes"])).pvalue > 1e-3
    assert ks_2samp(co, cn).pvalue > 1e-3


def test_gif_noise_is_reproducible_and_seeded():
    p = dict(GIF_BASE, lambda_0=50.0, Delta_V=2.0, I_e=1500.0)
    a = run_ours(lambda: gif_cond_exp(50, seed=1, **p), 50, t_sim=100.0)["spikes"]
    b = run_ours(lambda: gif_cond_exp(50, seed=1, **p), 50, t_sim=100.0)["spikes"]
    c = run_ours(lambda: gif_cond_exp(50, seed=2, **p), 50, t_sim=100.0)["spikes"]
    assert a.sum() > 10
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("cls, bad, message", [
    (aeif_cond_alpha, dict(V_reset=10.0), "V_reset < V_peak"),
    (aeif_cond_exp, dict(Delta_T=-1.0), "Delta_T must be positive"),
    (aeif_cond_exp, dict(V_peak=-60.0, V_reset=-70.0), "V_peak >= V_th"),
    (aeif_cond_alpha, dict(C_m=0.0), "Capacitance must be strictly positive"),
    (aeif_cond_alpha, dict(tau_w=0.0), "time constants must be strictly positive"),
    (aeif_cond_alpha, dict(t_ref=-1.0), "Refractory time cannot be negative"),
    (aeif_cond_exp, dict(Delta_T=0.01, V_peak=100.0), "numerical overflow"),
    (hh_cond_exp_traub, dict(C_m=-1.0), "Capacitance must be strictly positive"),
    (hh_cond_exp_traub, dict(tau_syn_in=0.0), "time constants must be strictly positive"),
    (gif_cond_exp, dict(tau_sfa=[1.0, 2.0], q_sfa=[1.0]), "same dimensions"),
    (gif_cond_exp, dict(tau_stc=[-1.0], q_stc=[1.0]), "time constants must be strictly"),
    (gif_cond_exp, dict(Delta_V=0.0), "Delta_V must be strictly positive"),
    (gif_cond_exp, dict(lambda_0=-1.0), "lambda_0 must not be negative"),
    (izhikevich, dict(a=np.nan), "must be finite"),
])
def test_bad_parameters_raise_nest_messages(cls, bad, message):
    with pytest.raises(ValueError, match=message):
        cls.validate_parameters({k: np.atleast_1d(np.asarray(v, float)) if k not in (
            "tau_sfa", "q_sfa", "tau_stc", "q_stc") else np.asarray(v, float)
            for k, v in bad.items()})
    with pytest.raises(ValueError, match=message):
        cls(2, **bad)


def test_set_parameters_keeps_state_and_changes_dynamics():
    with brainstate.environ.context(dt=DT, precision=64):
        m = aeif_cond_exp(2)
        m.init_state()
        m.set_state_value("V_m", [-60.0, -65.0])
        sig = m.signature()
        m.set_parameters(I_e=100.0)              # a new value: same compiled update
        assert m.signature() == sig
        m.set_parameters(I_e=np.array([0.0, 500.0]))
        np.testing.assert_array_equal(np.asarray(m.recordable("V_m")), [-60.0, -65.0])
        out = run_model(m, 100, record=["V_m"])
        assert out["V_m"][-1, 1] > out["V_m"][-1, 0]
        with pytest.raises(ValueError, match="V_reset < V_peak"):
            m.set_parameters(V_reset=5.0)


def test_float32_runs_close_to_float64():
    n = len(AEIF_PARAMS)
    spikes = random_spikes(n, 1, (5.0, 40.0))
    outs = {}
    for prec in (64, 32):
        with brainstate.environ.context(dt=DT, precision=prec):
            m = aeif_cond_alpha(n, **stacked(aeif_cond_alpha, AEIF_PARAMS))
            m.init_state()
            n_steps = 1000
            delta = {f"receptor_{k}": np.zeros((n_steps, n)) for k in range(2)}
            for i, port, t, w in spikes:
                s = int(round((t + DELAY) / DT)) - 1
                if s < n_steps:
                    delta[f"receptor_{port}"][s, i] += w
            current = np.zeros((n_steps, n))
            current[100:, :] = 700.0
            outs[prec] = run_model(m, n_steps, delta=delta, current=current, record=["V_m"])
    assert outs[32]["V_m"].dtype == np.float32
    s64, s32 = (np.argwhere(outs[p]["spikes"]) for p in (64, 32))
    assert len(s64) == len(s32) and np.max(np.abs(s64 - s32)) <= 1
