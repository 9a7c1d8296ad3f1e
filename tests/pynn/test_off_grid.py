"""``setup(spike_precision="off_grid")``: spike times inside the step, as pyNN.nest does it.

A network of SpikeSourceArrays with times off the grid -> IF_curr_exp (NEST's iaf_psc_exp_ps)
-> IF_curr_exp, the sources -> IF_curr_delta (iaf_psc_delta_ps), and the first population ->
IF_cond_exp (a grid model: offsets are ignored, as NEST's grid models do), run in pynn_brainpy
and written directly for NEST 3.10.
Spike times must agree to 1e-9 ms. Plus: precise Poisson sources (statistics, times off the
grid), the grid path unchanged under off_grid, and what is refused.
"""

import numpy as np
import pytest

import pynn_brainpy as sim

DT = 0.1
T_SIM = 200.0
N_SRC, N_A, N_B, N_C, N_D = 15, 12, 8, 6, 5


def _sources(seed=3):
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0.5, T_SIM - 5.0, rng.integers(20, 40))) for _ in range(N_SRC)]
    times[0] = np.array([5.0, 5.0, 5.03, 7.1, 7.1000001])     # repeats, on and off the grid
    return times


def _connections(n_pre, n_post, p, w_range, seed):
    """Explicit (i, j, weight nA, delay ms) lists, the same for both simulators."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_pre):
        for j in range(n_post):
            if rng.random() < p:
                out.append((i, j, float(rng.uniform(*w_range)),
                            float(np.round(rng.uniform(0.5, 3.0), 1))))
    return out


CONN = {"src_a": _connections(N_SRC, N_A, 0.5, (0.2, 0.9), 1),
        "src_a_inh": _connections(N_SRC, N_A, 0.2, (-0.6, -0.1), 2),
        "a_b": _connections(N_A, N_B, 0.6, (0.5, 1.5), 3),
        "a_c": _connections(N_A, N_C, 0.6, (0.005, 0.02), 4),
        "src_d": _connections(N_SRC, N_D, 0.6, (-1.0, 3.0), 5)}
A_PARAMS = dict(i_offset=0.3, tau_syn_E=1.5, tau_syn_I=4.0, tau_refrac=2.05)


def run_pynn():
    sim.setup(timestep=DT, min_delay=DT, max_delay=5.0, spike_precision="off_grid")
    src = sim.Population(N_SRC, sim.SpikeSourceArray(spike_times=_sources()))
    a = sim.Population(N_A, sim.IF_curr_exp(**A_PARAMS))
    b = sim.Population(N_B, sim.IF_curr_exp(tau_m=15.0))
    c = sim.Population(N_C, sim.IF_cond_exp(i_offset=0.5))
    d = sim.Population(N_D, sim.IF_curr_delta(i_offset=0.6))
    for name, pre, post, receptor in (("src_a", src, a, "excitatory"),
                                      ("src_a_inh", src, a, "inhibitory"),
                                      ("a_b", a, b, "excitatory"), ("a_c", a, c, "excitatory"),
                                      ("src_d", src, d, "excitatory")):
        sim.Projection(pre, post, sim.FromListConnector(CONN[name],
                                                        column_names=["weight", "delay"]),
                       receptor_type=receptor)
    for p in (src, a, b, c, d):
        p.record("spikes")
    sim.run(T_SIM)
    trains = [[np.asarray(st.magnitude) for st in p.get_data().segments[0].spiketrains]
              for p in (src, a, b, c, d)]
    sim.end()
    return trains


def run_nest():
    nest = pytest.importorskip("nest")
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": 1})
    src = nest.Create("spike_generator", N_SRC, params={"precise_times": True})
    for g, times in zip(src, _sources()):
        g.spike_times = times.tolist()
    # pyNN.nest puts parrot neurons behind spike sources; a precise parrot passes the offsets
    parrots = nest.Create("parrot_neuron_ps", N_SRC)
    nest.Connect(src, parrots, "one_to_one", syn_spec={"delay": DT})
    a = nest.Create("iaf_psc_exp_ps", N_A, params=dict(
        I_e=300.0, tau_syn_ex=1.5, tau_syn_in=4.0, t_ref=2.05, C_m=1000.0, tau_m=20.0,
        E_L=-65.0, V_reset=-65.0, V_th=-50.0, V_m=-65.0))
    b = nest.Create("iaf_psc_exp_ps", N_B, params=dict(
        C_m=1000.0, tau_m=15.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0, V_m=-65.0,
        tau_syn_ex=5.0, tau_syn_in=5.0, t_ref=0.1))
    c = nest.Create("iaf_cond_exp", N_C, params=dict(
        I_e=500.0, C_m=1000.0, g_L=50.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0, V_m=-65.0,
        tau_syn_ex=5.0, tau_syn_in=5.0, t_ref=0.1, E_ex=0.0, E_in=-70.0))
    d = nest.Create("iaf_psc_delta_ps", N_D, params=dict(
        I_e=600.0, C_m=1000.0, tau_m=20.0, E_L=-65.0, V_reset=-65.0, V_th=-50.0, V_m=-65.0,
        t_ref=0.1))
    for name, pre, post in (("src_a", parrots, a), ("src_a_inh", parrots, a),
                            ("a_b", a, b), ("a_c", a, c), ("src_d", parrots, d)):
        lag = DT if pre is parrots else 0.0        # the parrots add one step
        scale = 1.0 if post is d else 1000.0       # mV jumps; nA -> pA, uS -> nS
        for i, j, w, delay in CONN[name]:
            nest.Connect(pre[i], post[j], syn_spec={"weight": scale * w, "delay": delay - lag})
    recs = []
    for p in (parrots, a, b, c, d):
        r = nest.Create("spike_recorder")
        nest.Connect(p, r)
        recs.append((p, r))
    nest.Simulate(T_SIM + DT)
    trains = []
    for p, r in recs:
        s, t = np.asarray(r.events["senders"]), np.asarray(r.events["times"], float)
        trains.append([np.sort(t[(s == p[k].global_id) & (t <= T_SIM)])
                       for k in range(len(p))])
    # the parrots spike one step (DT) after the generators
    trains[0] = [t - DT for t in trains[0]]
    return trains


def test_off_grid_network_matches_nest():
    ours, ref = run_pynn(), run_nest()
    for name, a, b in zip(("sources", "IF_curr_exp A", "IF_curr_exp B", "IF_cond_exp C",
                           "IF_curr_delta D"), ours, ref):
        for k, (x, y) in enumerate(zip(a, b)):
            assert x.size == y.size, f"{name} cell {k}: {x.size} spikes, NEST {y.size}"
            if x.size:
                assert np.max(np.abs(x - y)) < 1e-9, f"{name} cell {k}"
    assert all(sum(x.size for x in ours[k]) > 10 for k in (2, 3, 4))
    spikes_a = np.concatenate(ours[1]) / DT
    assert np.any(np.abs(spikes_a - np.round(spikes_a)) > 1e-3)       # really off the grid
    # the source times are given back, repeats included: those off the grid exactly (the
    # offset is computed so), those on it as the grid point (m+1)·dt, as NEST does
    given = _sources()[0]
    np.testing.assert_allclose(ours[0][0], given, rtol=1e-15)
    np.testing.assert_array_equal(ours[0][0][[2, 4]], given[[2, 4]])


def test_grid_models_behave_as_on_grid():
    def run(precision):
        sim.setup(timestep=DT, spike_precision=precision)
        src = sim.Population(3, sim.SpikeSourceArray(spike_times=[[2.0, 7.3], [4.1], [9.9]]))
        p = sim.Population(4, sim.IF_cond_exp(i_offset=0.6))
        sim.Projection(src, p, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.02,
                                                                          delay=1.0))
        p.record(["spikes", "v"])
        sim.run(50.0)
        block = p.get_data()
        return (np.concatenate([st.magnitude for st in block.segments[0].spiketrains]),
                block.segments[0].analogsignals[0].magnitude)
    (s1, v1), (s2, v2) = run("on_grid"), run("off_grid")
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(v1, v2)


def test_precise_poisson_sources():
    rate, t_stop = 2000.0, 500.0          # 0.2 spikes per step: repeats within a step happen
    sim.setup(timestep=DT, spike_precision="off_grid", rng_seed=5)
    p = sim.Population(20, sim.SpikeSourcePoisson(rate=rate, start=50.0, duration=400.0))
    p.record("spikes")
    sim.run(t_stop)
    trains = [st.magnitude for st in p.get_data().segments[0].spiketrains]
    sim.end()
    everything = np.concatenate(trains)
    expected = rate * 0.4 * 20
    assert abs(everything.size - expected) < 5 * np.sqrt(expected)
    assert everything.min() > 50.0 and everything.max() <= 450.0
    phase = np.mod(everything, DT) / DT                     # uniform over the step
    hist = np.histogram(phase, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - everything.size / 10) < 5 * np.sqrt(everything.size / 10))
    assert all(np.all(np.diff(t) >= 0) for t in trains)


def test_precise_target_refuses_plastic_synapses():
    sim.setup(timestep=DT, spike_precision="off_grid")
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    p = sim.Population(2, sim.IF_curr_exp())
    sim.Projection(src, p, sim.AllToAllConnector(),
                   sim.TsodyksMarkramSynapse(weight=0.5, delay=1.0))
    with pytest.raises(NotImplementedError, match="precise"):
        sim.run(5.0)


def test_more_poisson_spikes_than_slots_stop_the_run(monkeypatch):
    """The engine keeps room for so many spikes per step that overflowing is practically
    impossible; if it happens anyway the run stops with an error, keeping what was recorded."""
    from pynn_brainpy.engine import precise
    monkeypatch.setattr(precise, "poisson_slots", lambda lam: 1)
    sim.setup(timestep=DT, spike_precision="off_grid")
    p = sim.Population(5, sim.SpikeSourcePoisson(rate=5000.0))      # 0.5 spikes per step
    p.record("spikes")
    with pytest.raises(RuntimeError, match="precise Poisson source"):
        sim.run(100.0)
    assert sum(st.size for st in p.get_data().segments[0].spiketrains) > 100
