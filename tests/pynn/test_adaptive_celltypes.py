"""EIF_cond_alpha_isfa_ista, EIF_cond_exp_isfa_ista, Izhikevich, HH_cond_exp and GIF_cond_exp
through PyNN's API (``import pynn_brainpy as sim``), against the same cells written directly
for NEST 3.10 (the models pyNN.nest uses, with pyNN.nest's translations).

Each population of three cells (per-cell ``i_offset``) gets two SpikeSourceArrays over an
excitatory and an inhibitory projection; NEST gets a ``spike_generator`` per source connected
straight to the targets (a spike at t acts at t + d in both), weights ×1000 (uS → nS; ×1 for
Izhikevich, whose weights are mV) and negative for inhibition. Spike trains must be identical
and v within 1e-6 mV. GIF_cond_exp is compared in its deterministic limit (huge ``lambda0``,
tiny ``delta_v``). Also: get/set round trips, recordables and units, bad values.
"""

import numpy as np
import pytest
from pyNN import errors
from pyNN.parameters import ArrayParameter

import pynn_brainpy as sim

nest = pytest.importorskip("nest")

DT = 0.1
T_SIM = 200.0
DELAY = 1.0
EXC_TIMES = [5.0, 12.3, 30.0, 30.5, 31.0, 55.2, 80.0, 120.4, 150.0, 151.0]
INH_TIMES = [20.0, 60.1, 90.0, 130.7, 170.0]
I_OFFSET = [0.0, 0.4, 0.9]

CASES = {
    "EIF_cond_alpha_isfa_ista": dict(
        params=dict(tau_refrac=2.0, b=0.05, tau_syn_E=2.0, tau_syn_I=4.0),
        i_offset=I_OFFSET, w_exc=0.02, w_inh=0.03, nest="aeif_cond_alpha",
        init=dict(v=-65.0), nest_init=dict(V_m=-65.0), scale=1000.0,
        record=["v", "w", "gsyn_exc", "gsyn_inh"]),
    "EIF_cond_exp_isfa_ista": dict(
        params=dict(tau_refrac=1.0, a=2.0), i_offset=I_OFFSET, w_exc=0.03, w_inh=0.03,
        nest="aeif_cond_exp", init=dict(v=-68.0, w=0.01),
        nest_init=dict(V_m=-68.0, w=10.0), scale=1000.0,
        record=["v", "w", "gsyn_exc", "gsyn_inh"]),
    "Izhikevich": dict(
        params=dict(a=0.02, b=0.2, c=-65.0, d=6.0), i_offset=[0.0, 0.005, 0.01],
        w_exc=5.0, w_inh=-4.0, nest="izhikevich", init=dict(v=-70.0, u=-14.0),
        nest_init=dict(V_m=-70.0, U_m=-14.0), scale=1.0, record=["v", "u"]),
    "HH_cond_exp": dict(
        params=dict(), i_offset=[0.0, 0.5, 1.0], w_exc=0.05, w_inh=0.05,
        nest="hh_cond_exp_traub", init=dict(v=-65.0, h=1.0, m=0.0, n=0.0),
        nest_init=dict(V_m=-65.0, Inact_h=1.0, Act_m=0.0, Act_n=0.0), scale=1000.0,
        record=["v", "gsyn_exc", "gsyn_inh", "m", "n", "h"]),
    "GIF_cond_exp": dict(
        params=dict(lambda0=1e10, delta_v=0.0002, a_eta=ArrayParameter([0.1, 0.05, 0.02]),
                    a_gamma=ArrayParameter([2.0, 1.0, 0.5])),
        i_offset=[0.0, 1.0, 1.5], w_exc=0.02, w_inh=0.02, nest="gif_cond_exp",
        init=dict(v=-65.0), nest_init=dict(V_m=-65.0), scale=1000.0,
        record=["v", "gsyn_exc", "gsyn_inh", "i_eta", "v_t"]),
}
NEST_NAMES = {"v": "V_m", "w": "w", "gsyn_exc": "g_ex", "gsyn_inh": "g_in", "u": "U_m",
              "m": "Act_m", "n": "Act_n", "h": "Inact_h", "i_eta": "I_stc", "v_t": "E_sfa"}


def run_pynn(name, case, precision="float64"):
    sim.setup(timestep=DT, min_delay=DT, max_delay=5.0, precision=precision)
    cell = getattr(sim, name)(**case["params"])
    pop = sim.Population(3, cell, initial_values=case["init"])
    pop.set(i_offset=np.array(case["i_offset"]))
    src_e = sim.Population(1, sim.SpikeSourceArray(spike_times=EXC_TIMES))
    src_i = sim.Population(1, sim.SpikeSourceArray(spike_times=INH_TIMES))
    sim.Projection(src_e, pop, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=case["w_exc"], delay=DELAY),
                   receptor_type="excitatory")
    sim.Projection(src_i, pop, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=case["w_inh"], delay=DELAY),
                   receptor_type="inhibitory")
    pop.record(["spikes"] + case["record"])
    sim.run(T_SIM)
    seg = pop.get_data().segments[0]
    out = {"spikes": [np.asarray(st.magnitude) for st in seg.spiketrains]}
    for var in case["record"]:
        sig = seg.filter(name=var)[0]
        out[var] = (np.asarray(sig.magnitude), str(sig.units.dimensionality))
    native = cell.native_parameters
    native.shape = (1,)
    native = native.evaluate(simplify=True).as_dict()
    sim.end()
    return out, native


def run_nest(case, native, record):
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(resolution=DT, local_num_threads=1)
    params = {k: (list(v.value) if isinstance(v, ArrayParameter) else float(np.ravel(v)[0]))
              for k, v in native.items()}
    nrn = nest.Create(case["nest"], 3, params=params)
    for i, amp in enumerate(case["i_offset"]):
        nrn[i].set(I_e=1000.0 * amp)
    nrn.set(case["nest_init"])
    sign = -1.0 if case["scale"] > 1 else 1.0      # conductance types: inhibition is w < 0
    for times, w in ((EXC_TIMES, case["w_exc"]), (INH_TIMES, sign * case["w_inh"])):
        sg = nest.Create("spike_generator", params={"spike_times": times})
        nest.Connect(sg, nrn, syn_spec={"delay": DELAY, "weight": w * case["scale"]})
    mm = nest.Create("multimeter", params={"interval": DT,
                                           "record_from": [NEST_NAMES[v] for v in record]})
    nest.Connect(mm, nrn)
    sr = nest.Create("spike_recorder")
    nest.Connect(nrn, sr)
    nest.Simulate(T_SIM + DT)
    ev = mm.get("events")
    out = {}
    for var in record:
        arr = np.empty((int(round(T_SIM / DT)), 3))
        for j, gid in enumerate(nrn.tolist()):
            sel = ev["senders"] == gid
            arr[:, j] = ev[NEST_NAMES[var]][sel][np.argsort(ev["times"][sel])][:arr.shape[0]]
        out[var] = arr
    se = sr.get("events")
    out["spikes"] = [np.sort(se["times"][se["senders"] == g]) for g in nrn.tolist()]
    return out


PYNN_SCALE = {"w": 0.001, "gsyn_exc": 0.001, "gsyn_inh": 0.001, "i_eta": 0.001}


@pytest.mark.parametrize("name", sorted(CASES))
def test_celltype_matches_nest(name):
    case = CASES[name]
    ours, native = run_pynn(name, case)
    ref = run_nest(case, native, case["record"])
    n_spikes = 0
    for i in range(3):
        theirs = ref["spikes"][i][ref["spikes"][i] <= T_SIM + 1e-9]
        np.testing.assert_allclose(ours["spikes"][i], theirs, atol=1e-9,
                                   err_msg=f"{name}: spike times of cell {i}")
        n_spikes += theirs.size
    assert n_spikes >= 3, f"{name}: the scenario should make the cells fire"
    for var in case["record"]:
        values, _ = ours[var]
        assert values.shape[0] == int(round(T_SIM / DT)) + 1     # t = 0 .. T_SIM
        nest_values = ref[var] * PYNN_SCALE.get(var, 1.0)
        diff = np.max(np.abs(values[1:] - nest_values))
        tol = 1e-6 * (PYNN_SCALE.get(var, 1.0))
        assert diff <= tol, f"{name}: max |Δ{var}| = {diff}"


def test_recorded_units_and_initial_sample():
    out, _ = run_pynn("EIF_cond_exp_isfa_ista", CASES["EIF_cond_exp_isfa_ista"])
    assert out["v"][1] == "mV" and out["w"][1] == "nA" and out["gsyn_exc"][1] == "uS"
    np.testing.assert_allclose(out["v"][0][0], -68.0)
    np.testing.assert_allclose(out["w"][0][0], 0.01)


@pytest.mark.parametrize("name, changes", [
    ("EIF_cond_alpha_isfa_ista", dict(tau_m=12.0, a=3.0, b=0.1, v_spike=-10.0, tau_w=100.0)),
    ("EIF_cond_exp_isfa_ista", dict(cm=0.3, delta_T=1.5, e_rev_I=-75.0)),
    ("Izhikevich", dict(a=0.03, d=4.0, i_offset=0.002)),
    ("HH_cond_exp", dict(gbar_Na=18.0, v_offset=-60.0, tau_syn_I=5.0)),
    ("GIF_cond_exp", dict(lambda0=2.0, tau_eta=ArrayParameter([2.0, 20.0, 200.0]),
                          v_t_star=-50.0)),
])
def test_get_set_round_trip(name, changes):
    sim.setup(timestep=DT)
    celltype = getattr(sim, name)
    pop = sim.Population(4, celltype())
    for key, value in changes.items():
        pop.set(**{key: value})
        got = pop.get(key)
        want = value.value if isinstance(value, ArrayParameter) else value
        got = got.value if isinstance(got, ArrayParameter) else got
        np.testing.assert_allclose(np.asarray(got, float), want, rtol=1e-12, err_msg=key)
    for key, default in celltype.default_parameters.items():
        if key in changes:
            continue
        got = pop.get(key)
        got = got.value if isinstance(got, ArrayParameter) else got
        want = default.value if isinstance(default, ArrayParameter) else default
        np.testing.assert_allclose(np.asarray(got, float), want, rtol=1e-12, err_msg=key)
    sim.run(5.0)        # the changed values build and run
    sim.end()


@pytest.mark.parametrize("name, bad, message", [
    ("EIF_cond_alpha_isfa_ista", dict(v_reset=10.0), "V_reset < V_peak"),
    ("EIF_cond_exp_isfa_ista", dict(tau_w=-1.0), "strictly positive"),
    ("EIF_cond_exp_isfa_ista", dict(delta_T=-2.0), "Delta_T must be positive"),
    ("HH_cond_exp", dict(cm=-0.2), "Capacitance"),
    ("Izhikevich", dict(a=float("nan")), "must be finite"),
    ("GIF_cond_exp", dict(tau_gamma=ArrayParameter([1.0, -2.0, 3.0])), "time constants"),
    ("GIF_cond_exp", dict(a_eta=ArrayParameter([1.0, 2.0])), "same dimensions"),
    ("GIF_cond_exp", dict(delta_v=0.0), "Delta_V"),
])
def test_bad_values_raise_invalid_parameter_value_error(name, bad, message):
    sim.setup(timestep=DT)
    celltype = getattr(sim, name)
    with pytest.raises(errors.InvalidParameterValueError, match=message):
        sim.Population(2, celltype(**bad))
    pop = sim.Population(2, celltype())
    with pytest.raises(errors.InvalidParameterValueError, match=message):
        pop.set(**bad)
    sim.run(1.0)         # the population kept its valid values
    sim.end()


def test_receptors_and_recordables():
    sim.setup(timestep=DT)
    for name, extra in (("EIF_cond_alpha_isfa_ista", {"w"}), ("HH_cond_exp", {"m", "n", "h"}),
                        ("GIF_cond_exp", {"i_eta", "v_t"}), ("Izhikevich", {"u"})):
        ct = getattr(sim, name)()
        assert set(ct.receptor_types) == {"excitatory", "inhibitory"}
        assert {"spikes", "v"} | extra <= set(ct.recordable)
        with pytest.raises(errors.ConnectionError):
            ct.receptor_port("gaba_b")
    sim.end()


def test_gif_populations_get_different_noise_and_reset_replays_it():
    sim.setup(timestep=DT, rng_seed=3)
    cell = dict(i_offset=1.5, lambda0=50.0, delta_v=2.0)
    a = sim.Population(30, sim.GIF_cond_exp(**cell))
    b = sim.Population(30, sim.GIF_cond_exp(**cell))
    for p in (a, b):
        p.record("spikes")
    sim.run(100.0)
    sim.reset()
    sim.run(100.0)
    trains = [[[np.asarray(st) for st in seg.spiketrains] for seg in p.get_data().segments]
              for p in (a, b)]
    flat = lambda ts: np.concatenate([t + 1000 * i for i, t in enumerate(ts)])
    assert flat(trains[0][0]).size > 10
    assert not np.array_equal(flat(trains[0][0]), flat(trains[1][0]))
    np.testing.assert_array_equal(flat(trains[0][0]), flat(trains[0][1]))
    sim.end()
