"""PyNN's integrate-and-fire cell types through the PyNN API, against NEST 3.10 live.

Each type gets a small heterogeneous population driven by SpikeSourceArrays on its excitatory
and inhibitory receptors (and ``i_offset``); the same network is written directly for NEST
with the model pyNN.nest uses and the parameters translated *by hand* (nF -> pF, nA -> pA,
uS -> nS, g_L = 1000 cm/tau_m, inhibitory conductance weights negated, IF_curr_delta weights
in mV), so the translations are checked too. A spike_generator spike at t over delay d acts
at t + d, as our SpikeSourceArray's. Spike times must be equal; ``v`` within 1e-9 mV (psc),
1e-6 mV (cond); conductances / currents within 1e-9 of PyNN's units.
"""

import numpy as np
import pytest
from pyNN import errors

import pynn_brainpy as sim

nest = pytest.importorskip("nest")

DT = 0.1
T_SIM = 120.0
DELAY = 1.5
N = 3
EXC_TIMES = [[5.0, 10.0, 10.5, 11.0, 30.0, 31.2, 32.0, 60.0, 61.0, 61.1, 90.0],
             [7.3, 12.0, 33.3, 34.0, 62.0, 62.5, 95.5, 96.0]]
INH_TIMES = [[20.0, 45.0, 64.0, 92.0, 93.0]]

#: cell type -> (NEST model, PyNN parameters per cell, (w_exc, w_inh) in PyNN units,
#: recordables, tolerance for v)
CASES = {
    "IF_curr_alpha": ("iaf_psc_alpha",
                      [dict(), dict(tau_refrac=2.0, i_offset=0.3, tau_syn_E=1.0),
                       dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0, v_reset=-62.0,
                            tau_syn_I=2.0)],
                      (1.8, -0.8), ("v", "isyn_exc", "isyn_inh"), 1e-9),
    "IF_curr_exp": ("iaf_psc_exp",
                    [dict(), dict(tau_refrac=2.0, i_offset=0.3, tau_syn_E=1.0),
                     dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0, v_reset=-62.0,
                          tau_syn_I=2.0)],
                    (1.5, -1.0), ("v", "isyn_exc", "isyn_inh"), 1e-9),
    "IF_curr_delta": ("iaf_psc_delta",
                      [dict(), dict(tau_refrac=2.0, i_offset=0.3),
                       dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0, v_reset=-62.0)],
                      (6.0, -4.0), ("v",), 1e-9),
    "IF_cond_alpha": ("iaf_cond_alpha",
                      [dict(), dict(tau_refrac=2.0, i_offset=0.3, tau_syn_E=1.0),
                       dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0, v_reset=-62.0,
                            tau_syn_I=2.0, e_rev_I=-75.0)],
                      (0.05, 0.02), ("v", "gsyn_exc", "gsyn_inh"), 1e-6),
    "IF_cond_exp": ("iaf_cond_exp",
                    [dict(), dict(tau_refrac=2.0, i_offset=0.3, tau_syn_E=1.0),
                     dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0, v_reset=-62.0,
                          tau_syn_I=2.0, e_rev_I=-75.0)],
                    (0.02, 0.015), ("v", "gsyn_exc", "gsyn_inh"), 1e-6),
    "IF_cond_exp_gsfa_grr": ("iaf_cond_exp_sfa_rr",
                             [dict(), dict(tau_refrac=2.0, i_offset=0.3, q_sfa=30.0),
                              dict(cm=0.5, tau_m=15.0, v_rest=-60.0, v_thresh=-48.0,
                                   v_reset=-62.0, tau_rr=3.0, e_rev_rr=-80.0)],
                             (0.03, 0.02), ("v", "gsyn_exc", "gsyn_inh", "g_r", "g_s"), 1e-6),
    "IF_facets_hardware1": ("iaf_cond_exp",
                            [dict(), dict(g_leak=30.0, tau_syn_E=10.0),
                             dict(v_rest=-60.0, v_thresh=-50.0, v_reset=-70.0, e_rev_I=-75.0)],
                            (0.01, 0.01), ("v", "gsyn_exc", "gsyn_inh"), 1e-6),
}

#: PyNN recordable -> (NEST recordable, factor NEST unit -> PyNN unit)
NEST_RECORDABLE = {"v": ("V_m", 1.0), "isyn_exc": ("I_syn_ex", 1e-3),
                   "isyn_inh": ("I_syn_in", 1e-3), "gsyn_exc": ("g_ex", 1e-3),
                   "gsyn_inh": ("g_in", 1e-3), "g_r": ("g_rr", 1.0), "g_s": ("g_sfa", 1.0)}


def nest_parameters(celltype: str, p: dict) -> dict:
    """pyNN.nest's translation of one cell's parameters, written out by hand."""
    q = dict(getattr(sim, celltype).default_parameters, **p)
    if celltype == "IF_facets_hardware1":
        return {"V_reset": q["v_reset"], "E_L": q["v_rest"], "V_th": q["v_thresh"],
                "E_in": q["e_rev_I"], "tau_syn_ex": q["tau_syn_E"],
                "tau_syn_in": q["tau_syn_I"], "g_L": q["g_leak"], "C_m": 200.0, "t_ref": 1.0,
                "E_ex": 0.0}
    out = {"E_L": q["v_rest"], "V_reset": q["v_reset"], "C_m": 1000.0 * q["cm"],
           "t_ref": q["tau_refrac"], "V_th": q["v_thresh"], "I_e": 1000.0 * q["i_offset"]}
    if celltype.startswith("IF_curr"):
        out["tau_m"] = q["tau_m"]
        if celltype != "IF_curr_delta":
            out.update(tau_syn_ex=q["tau_syn_E"], tau_syn_in=q["tau_syn_I"])
    else:
        out.update(g_L=1000.0 * q["cm"] / q["tau_m"], tau_syn_ex=q["tau_syn_E"],
                   tau_syn_in=q["tau_syn_I"], E_ex=q["e_rev_E"], E_in=q["e_rev_I"])
    if celltype == "IF_cond_exp_gsfa_grr":
        out.update(tau_sfa=q["tau_sfa"], E_sfa=q["e_rev_sfa"], q_sfa=q["q_sfa"],
                   tau_rr=q["tau_rr"], E_rr=q["e_rev_rr"], q_rr=q["q_rr"])
    return out


def run_pynn(celltype, params, weights, record):
    sim.setup(timestep=DT)
    ct = getattr(sim, celltype)
    cells = sim.Population(N, ct(**{k: [p.get(k, ct.default_parameters[k]) for p in params]
                                    for k in set().union(*params)}))
    exc = sim.Population(len(EXC_TIMES), sim.SpikeSourceArray(spike_times=EXC_TIMES))
    inh = sim.Population(len(INH_TIMES), sim.SpikeSourceArray(spike_times=INH_TIMES))
    sim.Projection(exc, cells, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=weights[0], delay=DELAY), receptor_type="excitatory")
    sim.Projection(inh, cells, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=weights[1], delay=DELAY), receptor_type="inhibitory")
    cells.record(list(record) + ["spikes"])
    sim.run(T_SIM)
    seg = cells.get_data().segments[0]
    out = {name: seg.filter(name=name)[0] for name in record}
    out["spikes"] = [np.asarray(st.magnitude) for st in seg.spiketrains]
    sim.end()
    return out


def run_nest(celltype, model, params, weights, record):
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": 1})
    cells = nest.Create(model, N)
    v_init = getattr(sim, celltype).default_initial_values["v"]
    for nrn, p in zip(cells, params):
        nrn.set(dict(nest_parameters(celltype, p), V_m=v_init))
    scale = 1.0 if celltype == "IF_curr_delta" else 1000.0
    cond = getattr(sim, celltype).conductance_based
    for times, w in ((EXC_TIMES, weights[0]), (INH_TIMES, -weights[1] if cond else weights[1])):
        gens = nest.Create("spike_generator", len(times),
                           params=[{"spike_times": t} for t in times])
        nest.Connect(gens, cells, "all_to_all", syn_spec={"weight": w * scale, "delay": DELAY})
    names = [NEST_RECORDABLE[r][0] for r in record]
    mm = nest.Create("multimeter", params={"interval": DT, "record_from": names})
    nest.Connect(mm, cells)
    sr = nest.Create("spike_recorder")
    nest.Connect(cells, sr)
    nest.Simulate(T_SIM + DELAY + 2 * DT)
    n_steps = int(round(T_SIM / DT))
    ev = mm.events
    step = np.rint(np.asarray(ev["times"]) / DT).astype(int) - 1
    col = np.asarray(ev["senders"]) - cells[0].global_id
    keep = step < n_steps
    out = {}
    for r, name in zip(record, names):
        arr = np.full((n_steps, N), np.nan)
        arr[step[keep], col[keep]] = np.asarray(ev[name], float)[keep] * NEST_RECORDABLE[r][1]
        out[r] = arr
    s_col = np.asarray(sr.events["senders"]) - cells[0].global_id
    s_t = np.asarray(sr.events["times"], float)
    out["spikes"] = [np.sort(s_t[(s_col == j) & (s_t <= T_SIM + 1e-9)]) for j in range(N)]
    return out


@pytest.mark.parametrize("celltype", sorted(CASES))
def test_celltype_matches_nest(celltype):
    model, params, weights, record, tol = CASES[celltype]
    ours = run_pynn(celltype, params, weights, record)
    ref = run_nest(celltype, model, params, weights, record)
    assert sum(len(s) for s in ref["spikes"]) >= 3
    for i, (a, b) in enumerate(zip(ours["spikes"], ref["spikes"])):
        np.testing.assert_allclose(a, b, atol=1e-9, err_msg=f"spike times of cell {i}")
    for name in record:
        sig = ours[name]
        assert str(sig.units.dimensionality) == getattr(sim, celltype)().units[name]
        values = np.asarray(sig.magnitude)
        assert values.shape == (int(round(T_SIM / DT)) + 1, N)
        if name == "v":
            v0 = getattr(sim, celltype).default_initial_values["v"]
            np.testing.assert_allclose(values[0], v0)
        diff = np.max(np.abs(values[1:] - ref[name]))
        limit = tol if name == "v" else 1e-9 * max(1.0, np.max(np.abs(ref[name])))
        assert diff <= limit, f"{celltype}: max |Δ{name}| = {diff}"
    if "isyn_inh" in record:
        assert np.min(ours["isyn_inh"].magnitude) < 0         # inhibitory current negative
    if "gsyn_inh" in record:
        assert np.max(ours["gsyn_inh"].magnitude) > 0


# ------------------------------------------------------------------------ parameters
@pytest.fixture
def simulator():
    sim.setup(timestep=DT)
    yield sim
    sim.end()


@pytest.mark.parametrize("celltype", sorted(CASES))
def test_parameters_round_trip_in_pynn_units(celltype, simulator):
    ct = getattr(sim, celltype)
    values = {k: v for k, v in CASES[celltype][1][2].items()}
    p = sim.Population(2, ct(**values))
    for name, value in dict(ct.default_parameters, **values).items():
        np.testing.assert_allclose(p.get(name), value, rtol=1e-12, err_msg=name)
    # the model receives NEST's values
    kwargs = p.celltype.model_parameters(p._parameters, p.size)
    expected = nest_parameters(celltype, values)
    for name, value in expected.items():
        np.testing.assert_allclose(kwargs[name], value, rtol=1e-12, err_msg=name)
    # set in PyNN units, read back the same
    name = "tau_syn_E" if "tau_syn_E" in ct.default_parameters else "v_thresh"
    p.set(**{name: 7.0 if name == "tau_syn_E" else -49.0})
    np.testing.assert_allclose(p.get(name), 7.0 if name == "tau_syn_E" else -49.0)
    if "cm" in ct.default_parameters:
        tau_m = p.get("tau_m")
        p.set(cm=[0.25, 2.0])
        np.testing.assert_allclose(p.get("cm"), [0.25, 2.0])
        np.testing.assert_allclose(p.get("tau_m"), tau_m)      # tau_m is kept


@pytest.mark.parametrize("celltype,bad", [
    ("IF_curr_alpha", dict(cm=-1.0)), ("IF_curr_exp", dict(tau_m=0.0)),
    ("IF_curr_delta", dict(tau_refrac=-1.0)), ("IF_cond_alpha", dict(v_reset=-40.0)),
    ("IF_cond_exp", dict(tau_syn_E=0.0)), ("IF_cond_exp_gsfa_grr", dict(tau_sfa=0.0)),
    ("IF_facets_hardware1", dict(v_reset=-50.0)),
])
def test_bad_parameters_raise_invalid_parameter_value_error(celltype, bad, simulator):
    ct = getattr(sim, celltype)
    with pytest.raises(errors.InvalidParameterValueError) as info:
        sim.Population(2, ct(**bad))
    assert "must" in str(info.value) or "smaller" in str(info.value)
    p = sim.Population(2, ct())
    with pytest.raises(errors.InvalidParameterValueError):
        p.set(**bad)
    np.testing.assert_allclose(p.get(list(bad)[0]), ct.default_parameters[list(bad)[0]])


def test_recordables_initial_values_and_receptors(simulator):
    p = sim.Population(2, sim.IF_cond_exp_gsfa_grr())
    assert set(p.celltype.recordable) >= {"spikes", "v", "gsyn_exc", "gsyn_inh", "g_r", "g_s"}
    assert p.celltype.units["g_r"] == "nS" and p.celltype.units["gsyn_exc"] == "uS"
    assert p.celltype.units["tau_m"] == "ms"
    assert sim.IF_curr_alpha().units["isyn_exc"] == "nA"
    assert p.celltype.receptor_types == ["excitatory", "inhibitory"]
    with pytest.raises(errors.ConnectionError):
        p.celltype.receptor_port("nmda")
    p.initialize(v=[-60.0, -61.0], gsyn_exc=0.01, g_r=5.0)
    p.record(["v", "gsyn_exc", "g_r"])
    sim.run(0.2)
    seg = p.get_data().segments[0]
    np.testing.assert_allclose(seg.filter(name="v")[0].magnitude[0], [-60.0, -61.0])
    np.testing.assert_allclose(seg.filter(name="gsyn_exc")[0].magnitude[0], [0.01, 0.01])
    np.testing.assert_allclose(seg.filter(name="g_r")[0].magnitude[0], [5.0, 5.0])
    # the conductances decay from their initial values
    g = seg.filter(name="g_r")[0].magnitude[:, 0]
    np.testing.assert_allclose(g[1], 5.0 * np.exp(-DT / 2.0), rtol=1e-6)
