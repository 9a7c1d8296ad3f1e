"""PyNN's standard current sources (DCSource, StepCurrentSource, ACSource, NoisyCurrentSource)
on pynn_brainpy, checked against NEST 3.10 live.

PyNN's timing: a source's current changes at exactly its given time t and V responds at
t + dt. NEST devices reach their target one ``delay`` later, so (as pyNN.nest does) the NEST
devices here get their times one ``dt`` earlier and a connection delay of ``dt``; for the
``ac_generator`` the phase is moved so that ``phase`` holds at ``start`` (PyNN's definition).
"""

import numpy as np
import pytest
import quantities as pq
from pyNN import errors

import pynn_brainpy as sim
from pynn_brainpy.engine_groups import engine_groups

DT = 0.1
T_SIM = 80.0
N_STEPS = int(round(T_SIM / DT))
V0 = -78.85                      # GLIF_cond's (NEST's) default initial V_m
NEST_DEFAULT_V_TH = -51.68
# GLIF1 that stays subthreshold: long refractory time, high threshold
CELL = dict(tau_refrac=1000.0, v_thresh=100.0)

DC = dict(amplitude=0.5, start=10.0, stop=50.0)
STEP = dict(times=[5.0, 20.0, 40.0, 62.3], amplitudes=[0.2, -0.1, 0.3, 0.05])
AC = dict(amplitude=0.3, offset=0.1, frequency=50.0, phase=30.0, start=7.0, stop=60.0)
NOISE = dict(mean=0.2, stdev=0.1, start=3.0, stop=70.0, dt=0.5)


def _v(population, segment=0):
    return np.asarray(population.get_data().segments[segment].filter(name="v")[0])


def _current(source):
    return np.asarray(source.get_data().magnitude).ravel()


# ---------------------------------------------------------------------------- NEST
def run_nest(devices, n_neurons, t_sim=T_SIM):
    """NEST glif_cond (GLIF1, same parameters as CELL) with ``devices[i] = (model, params)``
    (PyNN times >= 2 dt, nA; None: no device) connected to neuron i, shifted to PyNN's timing.
    Returns V (n_steps + 1, n_neurons) at t = k·dt and each device's current (nA) at
    t = k·dt in PyNN time (NEST's recorded I moved one dt later)."""
    nest = pytest.importorskip("nest")
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.set(resolution=DT, local_num_threads=1)
    neurons = nest.Create("glif_cond", n_neurons, params={
        "spike_dependent_threshold": False, "after_spike_currents": False,
        "adapting_threshold": False, "t_ref": CELL["tau_refrac"], "V_th": CELL["v_thresh"]})
    n = int(round(t_sim / DT))
    gens = []
    for i, device in enumerate(devices):
        if device is None:
            continue
        model, p = device
        p = dict(p)
        shifted = {}
        if model == "ac_generator":
            shifted["phase"] = p["phase"] - 360.0 * p["frequency"] * (p["start"] - DT) / 1000.0
            shifted.update(amplitude=1000.0 * p["amplitude"], offset=1000.0 * p["offset"],
                           frequency=p["frequency"])
        if model == "dc_generator":
            shifted["amplitude"] = 1000.0 * p["amplitude"]
        if model == "step_current_generator":
            shifted["amplitude_times"] = [t - DT for t in p["times"]]
            shifted["amplitude_values"] = [1000.0 * a for a in p["amplitudes"]]
        else:
            shifted.update(start=p["start"] - DT, stop=p["stop"] - DT)
        gen = nest.Create(model, params=shifted)
        nest.Connect(gen, neurons[i], syn_spec={"delay": DT})
        mm = nest.Create("multimeter", params={"interval": DT, "record_from": ["I"]})
        nest.Connect(mm, gen)
        gens.append((i, mm))
    mm = nest.Create("multimeter", params={"interval": DT, "record_from": ["V_m"]})
    nest.Connect(mm, neurons)
    nest.Simulate(t_sim + 2.0)

    def table(events, name, first, width, cols):
        out = np.full((n + 1, width), np.nan)
        k = np.rint(np.asarray(events["times"]) / DT).astype(int) + first
        keep = k <= n
        out[k[keep], cols[keep]] = np.asarray(events[name], float)[keep]
        return out

    ev = mm.events
    v = table(ev, "V_m", 0, n_neurons, np.asarray(ev["senders"]) - neurons[0].global_id)
    v[0] = V0
    currents = {}
    for i, gmm in gens:
        ev = gmm.events
        cur = table(ev, "I", 1, 1, np.zeros(len(ev["times"]), int))[:, 0] / 1000.0
        cur[:2] = 0.0          # NEST stamps start at dt (PyNN time 2 dt); devices start later
        currents[i] = cur
    assert not np.isnan(v).any()
    return v, currents


# ---------------------------------------------------------------------------- network A
@pytest.fixture(scope="module")
def single_run():
    """One network, one 80 ms run: a cell per source type, plus the t = 0 cases."""
    sim.setup(timestep=DT)
    cells = sim.Population(7, sim.GLIF_cond.variant(1, **CELL))
    sources = {
        "dc": sim.DCSource(**DC),
        "step": sim.StepCurrentSource(**STEP),
        "ac": sim.ACSource(**AC),
        "noise": sim.NoisyCurrentSource(**NOISE),
        "dc0": sim.DCSource(amplitude=0.3, start=0.0),       # on from t = 0
        "step0": sim.StepCurrentSource(times=[0.0], amplitudes=[0.3]),
    }
    cells[0].inject(sources["dc"])                   # ID.inject -> inject_into([id])
    sources["step"].inject_into(cells[1:2])          # a PopulationView
    sources["ac"].inject_into([cells[2]])            # a list of IDs
    sources["noise"].inject_into(cells[3:4])
    sources["dc0"].inject_into(cells[4:5])
    sources["step0"].inject_into(cells[5:6])
    cells[6:7].set(i_offset=0.3)                     # the same current as a parameter
    for s in sources.values():
        s.record()
    cells.record("v")
    sim.run(T_SIM)
    return cells, sources, _v(cells), {k: _current(s) for k, s in sources.items()}


def test_single_run_traces_match_nest(single_run):
    cells, sources, v, current = single_run
    noise_times = np.arange(N_STEPS + 1) * DT
    devices = [("dc_generator", DC), ("step_current_generator", STEP), ("ac_generator", AC),
               # the noise cell: NEST driven by the current we recorded
               # (NEST takes amplitude times > 0: PyNN times >= 2 dt)
               ("step_current_generator", dict(times=noise_times[2:],
                                               amplitudes=current["noise"][2:]))]
    v_nest, i_nest = run_nest(devices, 4)
    assert current["noise"][0] == current["noise"][1] == 0.0
    for i, name in enumerate(["dc", "step", "ac", "noise"]):
        np.testing.assert_allclose(v[:, i], v_nest[:, i], rtol=0, atol=1e-9, err_msg=name)
        assert np.ptp(v[:, i]) > 1.0, name                 # the current did something
    for i, name in enumerate(["dc", "step", "ac"]):        # NEST's device currents
        np.testing.assert_allclose(current[name], i_nest[i], rtol=0, atol=1e-12,
                                   err_msg=name)


def test_recorded_currents_follow_pynn_timing(single_run):
    cells, sources, v, current = single_run
    k = np.arange(N_STEPS + 1)
    sig = sources["dc"].get_data()
    assert sig.units == pq.nA
    assert float(sig.t_start) == 0.0 and np.isclose(float(sig.sampling_period), DT)
    assert sig.shape == (N_STEPS + 1, 1) and np.isclose(float(sig.times[-1]), T_SIM)
    # DC: on at start (index 100), off at stop (index 500)
    np.testing.assert_array_equal(current["dc"], np.where((k >= 100) & (k < 500), 0.5, 0.0))
    # step: values from each (grid) time on
    step_k = [50, 200, 400, 623]
    i = np.searchsorted(step_k, k, side="right") - 1
    np.testing.assert_array_equal(current["step"],
                                  np.where(i >= 0, np.array([0.2, -0.1, 0.3, 0.05])[i], 0.0))
    # AC: phase holds at start
    on = (k >= 70) & (k < 600)
    expect = np.where(on, 0.1 + 0.3 * np.sin(2 * np.pi * 50.0 * (k - 70) * DT / 1000.0
                                             + np.pi / 6), 0.0)
    np.testing.assert_allclose(current["ac"], expect, rtol=0, atol=1e-14)
    assert current["ac"][70] == pytest.approx(0.1 + 0.3 * 0.5)
    # V responds one step after the current changes
    for name, col, first in [("dc", 0, 100), ("step", 1, 50), ("ac", 2, 70),
                             ("noise", 3, 30)]:
        assert np.all(v[:first + 1, col] == V0), name
        assert v[first + 1, col] != V0, name


def test_currents_from_time_zero(single_run):
    """DCSource(start=0), StepCurrentSource(times=[0]) and i_offset act from the first step
    (PyNN issue 321; NEST itself cannot start a device current before t = 2 dt)."""
    cells, sources, v, current = single_run
    assert current["dc0"][0] == 0.3 and current["step0"][0] == 0.3
    assert v[1, 4] != V0
    np.testing.assert_array_equal(v[:, 4], v[:, 5])
    np.testing.assert_allclose(v[:, 4], v[:, 6], rtol=0, atol=1e-12)


def test_noise_statistics_and_interval(single_run):
    cells, sources, v, current = single_run
    k = np.arange(N_STEPS + 1)
    noise = current["noise"]
    on = (k >= 30) & (k < 700)
    assert np.all(noise[~on] == 0.0)
    values = noise[on].reshape(-1, 5)                     # dt = 0.5 ms = 5 steps from start
    assert np.all(values == values[:, :1])                # constant within an interval
    assert np.all(np.diff(values[:, 0]) != 0)             # redrawn at every interval
    draws = values[:, 0]                                  # 134 draws
    se = 0.1 / np.sqrt(draws.size)
    assert abs(draws.mean() - 0.2) < 4 * se
    assert 0.075 < draws.std(ddof=1) < 0.125


# ---------------------------------------------------------------------------- network B
@pytest.fixture(scope="module")
def two_runs():
    """Segment 0: run(30), change parameters, run(50). Segment 1 (after reset): run(80)."""
    sim.setup(timestep=DT, rng_seed=11)
    cells = sim.Population(4, sim.GLIF_cond.variant(1, **CELL))
    dc = sim.DCSource(amplitude=0.5, start=10.0, stop=50.0)
    ref = sim.StepCurrentSource(times=[10.0, 30.0, 50.0], amplitudes=[0.5, 0.8, 0.0])
    noise = sim.NoisyCurrentSource(mean=0.2, stdev=0.1, start=3.0, stop=70.0)
    noise2 = sim.NoisyCurrentSource(mean=0.0, stdev=0.05, start=5.0)
    for i, s in enumerate([dc, ref, noise, noise2]):
        s.inject_into(cells[i:i + 1])
        s.record()
    cells.record("v")
    sim.run(30.0)
    dc.amplitude = 0.8                                     # attribute setting
    noise2.set_parameters(mean=0.25)
    # targets are structure: refused mid-simulation
    with pytest.raises(NotImplementedError):
        ref.inject_into(cells[0:1])
    assert len(ref._targets) == 1
    sim.run(50.0)
    seg0 = (_v(cells, 0), [_current(s) for s in (dc, ref, noise, noise2)])
    sim.reset()
    sim.run(T_SIM)
    seg1 = (_v(cells, 1), [_current(s) for s in (dc, ref, noise, noise2)])
    return (dc, ref, noise, noise2), seg0, seg1


def test_change_between_runs_takes_effect_at_the_current_time(two_runs):
    (dc, ref, noise, noise2), (v, cur), _ = two_runs
    assert dc.amplitude == 0.8 and isinstance(dc.amplitude, float)
    np.testing.assert_array_equal(cur[0], cur[1])         # the recorded current...
    np.testing.assert_array_equal(v[:, 0], v[:, 1])       # ...is what was injected
    assert cur[0][299] == 0.5 and cur[0][300] == 0.8
    assert np.all(cur[3][:50] == 0.0) and cur[3][50] != 0.0   # noise2 from its start


def test_run_split_equals_one_run_and_reset_reproduces_noise(two_runs):
    (dc, ref, noise, noise2), (v0, cur0), (v1, cur1) = two_runs
    assert v0.shape == v1.shape == (N_STEPS + 1, 4)
    # unchanged sources: run(30) + run(50) == run(80), noise identical after reset()
    np.testing.assert_array_equal(v0[:, 1], v1[:, 1])
    np.testing.assert_array_equal(v0[:, 2], v1[:, 2])
    np.testing.assert_array_equal(cur0[2], cur1[2])
    # after reset the changed values hold from t = 0 (DC now 0.8 for 10 <= t < 50)
    k = np.arange(N_STEPS + 1)
    np.testing.assert_array_equal(cur1[0], np.where((k >= 100) & (k < 500), 0.8, 0.0))
    # noise2: same draws in both segments; segment 0 had mean 0 before t = 30 ms
    np.testing.assert_array_equal(cur0[3][300:], cur1[3][300:])
    np.testing.assert_allclose(cur1[3][50:300] - cur0[3][50:300], 0.25, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------- no network
def _engine_values(source, times):
    engine_groups(sim.simulator.state.populations)       # as building the network does
    inputs = source._engine_inputs(sim.simulator.state)
    assert len(inputs) == 1
    return inputs[0].amplitude(np.asarray(times, float))


def test_engine_contract_scale_and_targets():
    sim.setup(timestep=DT)
    a = sim.Population(5, sim.GLIF_cond.variant(1))
    b = sim.Population(3, sim.GLIF_cond.variant(1))
    dc = sim.DCSource(amplitude=0.25, start=1.0, stop=2.0)
    assert sim.simulator.state.current_sources == [dc]
    dc.inject_into(a[[1, 3]])
    dc.inject_into(sim.Assembly(a[4:5], b))
    dc.inject_into([b[2], a[0]])
    # a and b share one engine group (one model, engine_groups), b's cells after a's
    engine_groups(sim.simulator.state.populations)
    inputs = dc._engine_inputs(sim.simulator.state)
    assert [c.post for c in inputs] == [0, 0]
    assert sorted(inputs[0].targets.tolist()) == [0, 1, 3, 4]
    assert sorted(inputs[1].targets.tolist()) == [5, 6, 7, 7]   # b[2] twice: twice the current
    times = np.array([0.0, 0.9, 1.0, 1.5, 1.9, 2.0, 5.0])
    # model unit: pA for GLIF_cond (current_scale 1000)
    np.testing.assert_array_equal(inputs[0].amplitude(times), [0, 0, 250, 250, 250, 0, 0])
    dc.amplitude = -0.5                                     # read at call time
    np.testing.assert_array_equal(inputs[1].amplitude(times), [0, 0, -500, -500, -500, 0, 0])
    assert sim.simulator.state.structure_dirty


def test_spike_sources_refused():
    sim.setup(timestep=DT)
    spikes = sim.Population(2, sim.SpikeSourcePoisson(rate=10.0))
    cells = sim.Population(2, sim.GLIF_cond.variant(1))
    dc = sim.DCSource()
    with pytest.raises(TypeError):
        dc.inject_into(spikes)
    with pytest.raises(TypeError):
        dc.inject_into(cells + spikes)
    with pytest.raises(TypeError):
        spikes.inject(dc)
    with pytest.raises(TypeError):
        dc.inject_into([spikes[0]])
    assert dc._targets == []


def test_noise_reproducible_per_seed_and_independent_of_chunking():
    times = np.arange(0, 12000) * DT                        # crosses a draw block

    def draws(seed, pieces=(slice(None),)):
        sim.setup(timestep=DT, rng_seed=seed)
        cells = sim.Population(1, sim.GLIF_cond.variant(1))
        first = sim.NoisyCurrentSource(mean=0.0, stdev=1.0)
        second = sim.NoisyCurrentSource(mean=0.0, stdev=1.0)
        first.inject_into(cells)
        second.inject_into(cells)
        out = np.full(times.shape, np.nan)
        for piece in pieces:                    # e.g. chunks asked for in any order
            out[piece] = _engine_values(first, times[piece])
        return out, _engine_values(second, times)

    a1, a2 = draws(3)
    b1, b2 = draws(3, pieces=(slice(9000, None), slice(0, 3), slice(3, 9000)))
    c1, _ = draws(4)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2) and not np.array_equal(a1, c1)
    # the default dt is the time step: a new draw every step
    assert np.all(np.diff(a1[1:]) != 0)
    z = a1 / 1000.0                                          # pA -> nA
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and 0.97 < z.std() < 1.03


def test_step_times_are_rounded_to_the_grid():
    """PyNN issue 512: nearest step; of steps on the same grid time the last wins."""
    sim.setup(timestep=DT)
    step = sim.StepCurrentSource(times=[0.41, 0.42, 0.86], amplitudes=[0.5, -0.5, 0.5])
    np.testing.assert_allclose(step.times, [0.4, 0.9], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(step.amplitudes, [-0.5, 0.5])
    step.set_parameters(times=[1.0, 2.0], amplitudes=[1.0, 2.0])
    np.testing.assert_array_equal(step.amplitudes, [1.0, 2.0])


@pytest.mark.parametrize("cls, params, name", [
    (sim.DCSource, dict(start=10.0, stop=5.0), "stop"),
    (sim.DCSource, dict(amplitude=float("nan")), "amplitude"),
    (sim.DCSource, dict(amplitude=float("inf")), "amplitude"),
    (sim.DCSource, dict(start=float("nan")), "start"),
    (sim.ACSource, dict(start=10.0, stop=5.0), "stop"),
    (sim.ACSource, dict(frequency=float("inf")), "frequency"),
    (sim.ACSource, dict(phase=float("nan")), "phase"),
    (sim.ACSource, dict(offset=float("-inf")), "offset"),
    (sim.StepCurrentSource, dict(times=[1.0, 0.5], amplitudes=[1.0, 2.0]), "times"),
    (sim.StepCurrentSource, dict(times=[1.0, 1.0], amplitudes=[1.0, 2.0]), "times"),
    (sim.StepCurrentSource, dict(times=[-1.0, 1.0], amplitudes=[1.0, 2.0]), "times"),
    (sim.StepCurrentSource, dict(times=[1.0, 2.0], amplitudes=[1.0]), "amplitudes"),
    (sim.StepCurrentSource, dict(times=[1.0, 2.0], amplitudes=[1.0, float("nan")]),
     "amplitudes"),
    (sim.NoisyCurrentSource, dict(stdev=-0.1), "stdev"),
    (sim.NoisyCurrentSource, dict(dt=0.25), "dt"),
    (sim.NoisyCurrentSource, dict(dt=0.05), "dt"),
    (sim.NoisyCurrentSource, dict(dt=0.0), "dt"),
    (sim.NoisyCurrentSource, dict(mean=float("nan")), "mean"),
    (sim.NoisyCurrentSource, dict(start=20.0, stop=10.0), "stop"),
])
def test_bad_input_is_refused(cls, params, name):
    sim.setup(timestep=DT)
    with pytest.raises(errors.InvalidParameterValueError, match=name):
        cls(**params)
    assert sim.simulator.state.current_sources == []
    source = cls()                                         # the defaults are valid
    before = source.get_parameters()
    before.evaluate(simplify=True)
    with pytest.raises(errors.InvalidParameterValueError, match=name):
        source.set_parameters(**params)
    after = source.get_parameters()                        # all or nothing
    after.evaluate(simplify=True)
    for key in before.keys():
        np.testing.assert_array_equal(np.asarray(getattr(after[key], "value", after[key])),
                                      np.asarray(getattr(before[key], "value", before[key])))


def test_pynn_api_details():
    sim.setup(timestep=DT)
    dc = sim.DCSource(amplitude=0.5)
    with pytest.raises(errors.NothingToWriteError):
        dc.get_data()                                      # record() first
    with pytest.raises(AttributeError):                   # PyNN: use set_parameters
        dc.set(amplitude=1.0)
    with pytest.raises(errors.NonExistentParameterError):
        dc.foo
    noise = sim.NoisyCurrentSource()
    assert noise.dt == DT                                  # default: the time step
    with pytest.raises(errors.InvalidParameterValueError):
        sim.DCSource(amplitude="large")
    dc.record()
    sig = dc.get_data()                                    # t = 0 only
    assert len(sig) == 1 and float(sig.magnitude.ravel()[0]) == 0.5
    dc.amplitude = 0.7
    assert dc.describe(template=None)["parameters"]["amplitude"].base_value == 0.7
    step = sim.StepCurrentSource(times=[1.01, 2.0], amplitudes=[1.0, 2.0])
    np.testing.assert_allclose(
        step.describe(template=None)["parameters"]["times"].base_value.value, [1.0, 2.0])
