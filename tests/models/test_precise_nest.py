"""iaf_psc_exp_ps and iaf_psc_delta_ps (spike times off the grid) against NEST 3.10, live.

Both get the same input spikes at times off the grid (NEST: spike_generators with
``precise_times``; ours: events with offsets via ``add_precise_input``), and dc currents.
Acceptance: the same number of spikes per neuron, spike times within 1e-9 ms and
|ΔV_m| <= 1e-9 mV (measured: ~1e-13 for both; not bit-exact because the propagators of the
intervals between events are evaluated with XLA's exp/expm1, not the C library's).
"""

import os

import brainstate
import numpy as np
import pytest

from pynn_brainpy.engine.drive import run_model
from pynn_brainpy.engine.timing import precise_stamp
from pynn_brainpy.models.iaf_psc_delta_ps import iaf_psc_delta_ps
from pynn_brainpy.models.iaf_psc_exp_ps import iaf_psc_exp_ps

nest = pytest.importorskip("nest")
os.environ.setdefault("PYNEST_QUIET", "1")

DELAY = 1.0
TOL_T, TOL_V = 1e-9, 1e-9


MODELS = {"iaf_psc_exp_ps": iaf_psc_exp_ps, "iaf_psc_delta_ps": iaf_psc_delta_ps}


def run_nest(model, params, dt, t_sim, spikes, currents=()):
    """``spikes``: (neuron, time, weight); ``currents``: (neuron, start, stop, pA)."""
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"resolution": dt, "local_num_threads": 1})
    n = len(params)
    nrns = nest.Create(model, n)
    for nrn, p in zip(nrns, params):
        nrn.set(dict(p))
    for i, t, w in spikes:
        gen = nest.Create("spike_generator", params={"spike_times": [t],
                                                     "precise_times": True})
        nest.Connect(gen, nrns[i], syn_spec={"weight": w, "delay": DELAY})
    for i, start, stop, amp in currents:
        gen = nest.Create("dc_generator", params={"amplitude": amp, "start": start,
                                                  "stop": stop})
        nest.Connect(gen, nrns[i], syn_spec={"weight": 1.0, "delay": DELAY})
    mm = nest.Create("multimeter", params={"interval": dt, "record_from": ["V_m"]})
    nest.Connect(mm, nrns)
    sr = nest.Create("spike_recorder")
    nest.Connect(nrns, sr)
    nest.Simulate(t_sim + 2 * dt)
    n_steps = int(round(t_sim / dt))
    ev = mm.events
    step = np.rint(np.asarray(ev["times"]) / dt).astype(int) - 1
    col = np.asarray(ev["senders"]) - nrns[0].global_id
    keep = step < n_steps
    V = np.full((n_steps, n), np.nan)
    V[step[keep], col[keep]] = np.asarray(ev["V_m"])[keep]
    senders = np.asarray(sr.events["senders"]) - nrns[0].global_id
    times = np.asarray(sr.events["times"], float)
    return V, [np.sort(times[(senders == j) & (times <= t_sim)]) for j in range(n)]


def run_ours(model, params, dt, t_sim, spikes, currents=(), slots=8):
    """A spike at ``t`` is stamped as NEST does (``precise_stamp``) and keeps its offset
    over the delay."""
    n, n_steps = len(params), int(round(t_sim / dt))
    off = np.full((n_steps, n, slots), np.nan)
    w = np.zeros((n_steps, n, slots))
    used = np.zeros((n_steps, n), int)
    delay_steps = int(round(DELAY / dt))
    for i, t, weight in spikes:
        stamp, offset = precise_stamp(t, dt)
        m = stamp + delay_steps - 1
        if m >= n_steps:
            continue
        off[m, i, used[m, i]] = offset
        w[m, i, used[m, i]] = weight
        used[m, i] += 1
    current = np.zeros((n_steps, n))
    for i, start, stop, amp in currents:
        first = int(round((start + DELAY) / dt)) - 1
        last = int(round((stop + DELAY) / dt)) - 2
        current[first:last + 1, i] += amp
    cls = MODELS[model]
    kw = {name: np.array([p.get(name, default) for p in params])
          for name, (default, _) in cls.PARAMETERS.items()}
    v0 = np.array([p.get("V_m", -70.0) for p in params])   # NEST keeps V_m when E_L is set
    with brainstate.environ.context(precision=64, dt=dt):
        neurons = cls(n, V_initializer=v0, **kw)
        neurons.init_state()
        out = run_model(neurons, n_steps, events=(off, w), current=current,
                        record=("V_m", "spike_offset"))
    times = []
    for j in range(n):
        m = np.flatnonzero(out["spikes"][:, j])
        times.append((m + 1) * dt - out["spike_offset"][m, j])
    return out["V_m"], times


def compare(model, params, dt, t_sim, spikes, currents=()):
    V_ours, t_ours = run_ours(model, params, dt, t_sim, spikes, currents)
    V_nest, t_nest = run_nest(model, params, dt, t_sim, spikes, currents)
    for j, (a, b) in enumerate(zip(t_ours, t_nest)):
        assert len(a) == len(b), f"neuron {j}: {len(a)} spikes, NEST {len(b)}"
        if len(a):
            assert np.max(np.abs(a - b)) <= TOL_T, f"neuron {j}: spike times differ"
    assert not np.isnan(V_nest).any()
    assert np.max(np.abs(V_ours - V_nest)) <= TOL_V
    return t_ours


PARAMS = {"iaf_psc_exp_ps": [
    dict(I_e=380.0),                                           # regular firing, no input
    dict(),                                                    # driven by input only
    dict(I_e=260.0, tau_syn_ex=1.0, tau_syn_in=5.0, t_ref=2.47, C_m=200.0, E_L=-65.0,
         V_th=-52.0, V_reset=-68.0),
    dict(I_e=100.0, tau_m=2.0, tau_syn_ex=2.0, C_m=25.0),      # tau_m == tau_syn: the limit
], "iaf_psc_delta_ps": [
    dict(I_e=380.0), dict(), dict(I_e=200.0, t_ref=2.47, C_m=200.0, E_L=-65.0, V_th=-52.0,
                                  V_reset=-68.0),
    dict(I_e=100.0, tau_m=2.0, C_m=25.0),
]}
#: input weights: pA for the exponential currents, mV jumps for the delta synapses
WEIGHTS = {"iaf_psc_exp_ps": [600.0, -400.0, 900.0], "iaf_psc_delta_ps": [3.0, -2.0, 5.0]}


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("dt", [0.1, 0.01])
def test_precise_input_and_output_match_nest(model, dt):
    rng = np.random.default_rng(7)
    t_sim = 150.0
    spikes = []
    we = WEIGHTS[model]
    for i in range(len(PARAMS[model])):
        times = np.sort(rng.uniform(1.0, t_sim - 5.0, 120))
        for t, w in zip(times, rng.choice(we, times.size)):
            spikes.append((i, float(t), float(w)))
    # simultaneous events (one cancels), an event on the grid, one just after a step boundary
    spikes += [(1, 50.0, we[0]), (1, 50.0, we[1]), (1, 50.05, we[1]), (1, 50.05, we[2]),
               (1, 60.0 + dt * 1e-3, 3 * we[2])]
    times = compare(model, PARAMS[model], dt, t_sim, spikes,
                    currents=[(1, 20.0, 90.0, 300.0)])
    assert all(len(t) > 2 for t in times), [len(t) for t in times]
    # the spikes really are off the grid
    off_grid = np.concatenate(times) / dt
    assert np.any(np.abs(off_grid - np.round(off_grid)) > 1e-3)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_refractory_period_off_the_grid_and_a_state_above_threshold(model):
    """t_ref = 2.47 at dt 0.01 ends inside a step; V_m set above threshold spikes at once;
    input during the refractory period."""
    params = [dict(I_e=1000.0, t_ref=2.47), dict(V_m=-50.0), dict(I_e=600.0, t_ref=0.35)]
    spikes = [(2, 10.0 + 0.0037 * k, 2 * WEIGHTS[model][2]) for k in range(20)]
    times = compare(model, params, 0.01, 40.0, spikes)
    assert times[1].size == 1 and times[1][0] < 0.01


@pytest.mark.parametrize("model, params, name", [
    ("iaf_psc_exp_ps", dict(t_ref=0.0), "t_ref"), ("iaf_psc_exp_ps", dict(V_reset=-50.0),
                                                   "V_reset"),
    ("iaf_psc_exp_ps", dict(C_m=0.0), "C_m"), ("iaf_psc_exp_ps", dict(tau_syn_in=-1.0),
                                               "tau_syn_in"),
    ("iaf_psc_delta_ps", dict(t_ref=0.0), "t_ref"), ("iaf_psc_delta_ps", dict(tau_m=0.0),
                                                     "tau_m"),
    ("iaf_psc_delta_ps", dict(V_th=-75.0), "V_reset"),
])
def test_bad_parameters_name_the_parameter(model, params, name):
    with brainstate.environ.context(precision=64, dt=0.1):
        with pytest.raises(ValueError, match=name):
            MODELS[model](1, **params).init_state()
