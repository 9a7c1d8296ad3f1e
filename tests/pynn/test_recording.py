"""Recording to Neo: structure, names, units, shapes, annotations, views, sampling intervals,
clearing, files, spike counts, reset (one segment per run) and run splitting.

One network serves most tests (built once per module; each stage of the script below is
kept in the fixture so that the tests only look at the results).
"""

import pickle

import neo
import numpy as np
import pytest
import quantities as pq

import pynn_brainpy as sim

# PyNN marks its procedural record()/initialize() as deprecated; they are tested here anyway
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")

DT = 0.1
N = 5
# run lengths with the same power-of-two chunk (256 steps), so that the engine compiles its
# chunk function once for them (and once for the 500-step run)
T1, T2, T3 = 25.0, 25.0, 25.0
W_PORT2 = 0.004                       # uS, one input spike -> peak conductance W_PORT2
INPUT_TIMES = [[5.0], [7.0, 25.0], [9.0], [], [40.0]]


def _glif5():
    return sim.GLIF_cond.variant(5, tau_syn=[0.5, 2.0, 1.0], e_rev=[0.0, -85.0, -30.0],
                                 i_offset=[0.45, 0.5, 0.55, 0.6, 0.7])


def _build():
    sim.setup(timestep=DT, rng_seed=1234)
    pops = {}
    for name in ("a", "b", "c"):
        # three identical populations with identical inputs: "a" records everything at dt,
        # "b" records v every 0.5 ms, "c" records spikes and v on a view [1:4]
        p = sim.Population(N, _glif5(), label=f"pop_{name}",
                           initial_values={"v": [-70.0, -72.0, -74.0, -76.0, -60.0]})
        pops[name] = p
    src = sim.Population(N, sim.SpikeSourceArray(spike_times=INPUT_TIMES), label="src")
    noise = sim.Population(N, sim.SpikeSourcePoisson(rate=300.0), label="noise")
    for p in pops.values():
        sim.Projection(src, p, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=W_PORT2, delay=1.0), receptor_type="receptor_2")
        sim.Projection(noise, p, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=0.002, delay=0.5), receptor_type="inhibitory")
    return pops


VARIABLES = ["spikes", "v", "gsyn_exc", "gsyn_inh", "gsyn_receptor_2", "threshold",
             "threshold_spike", "threshold_voltage", "asc_sum"]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rec")
    out = {"tmp": tmp}
    pops = _build()
    a, b, c = pops["a"], pops["b"], pops["c"]
    a.record(VARIABLES)
    b.record("v", sampling_interval=0.5)
    view = c[1:4]
    view.record(["spikes", "v"])
    sim.record(["spikes", "v"], a, str(tmp / "end.pkl"))         # written by end()
    out["ids"] = [int(i) for i in a.all_cells]
    out["view_ids"] = [int(i) for i in view.all_cells]
    # ---- segment 0: run(T1) + run(T2)
    sim.run(T1)
    out["t_after_run1"] = sim.get_current_time()
    sim.run(T2)
    out["seg0_a"] = a.get_data()
    out["seg0_b"] = b.get_data()
    out["seg0_c"] = c.get_data()
    out["seg0_view"] = view.get_data()
    out["counts"] = a.get_spike_counts()
    out["mean_count"] = a.mean_spike_count()
    out["view_counts"] = view.get_spike_counts()
    a.write_data(str(tmp / "a.pkl"))
    a.write_data(neo.io.PickleIO(str(tmp / "a_io.pkl")), variables=["spikes", "v"])
    a.write_data(str(tmp / "a.mat"), variables=["spikes", "v"])     # NeoMatlabIO (scipy)
    out["nix"] = None
    try:
        import nixio  # noqa: F401
        a.write_data(str(tmp / "a.nix"))
        out["nix"] = tmp / "a.nix"
    except ImportError:
        pass
    # ---- segment 1: reset, run(T1 + T2) in one go
    sim.reset()
    out["t_after_reset"] = sim.get_current_time()
    sim.run(T1 + T2)
    out["both_a"] = a.get_data()
    # ---- clear: the next data start at the current time
    a.get_data(clear=True)
    out["after_clear_empty"] = a.get_data()
    sim.run(T3)
    out["after_clear"] = a.get_data()
    sim.end()
    out["end_file"] = tmp / "end.pkl"
    return out


def _signal(segment, name):
    matches = [s for s in segment.analogsignals if s.name == name]
    assert len(matches) == 1, f"{name}: {[s.name for s in segment.analogsignals]}"
    return matches[0]


# ------------------------------------------------------------------ structure
def test_block_and_segment(script):
    block = script["seg0_a"]
    assert block.name == "pop_a"
    assert len(block.segments) == 1
    seg = block.segments[0]
    assert seg.name == "segment000"
    assert block.annotations["simulator"] == "brainpy"
    assert block.annotations["size"] == N and block.annotations["dt"] == DT
    assert block.annotations["first_id"] == script["ids"][0]
    assert sorted(s.name for s in seg.analogsignals) == sorted(VARIABLES[1:])


def test_spiketrains(script):
    seg = script["seg0_a"].segments[0]
    assert len(seg.spiketrains) == N
    total = 0
    for i, st in enumerate(seg.spiketrains):
        assert st.units == pq.ms
        assert float(st.t_start) == 0.0 and float(st.t_stop) == pytest.approx(T1 + T2)
        assert st.annotations["source_population"] == "pop_a"
        assert int(st.annotations["source_index"]) == i
        assert int(st.annotations["channel_id"]) == script["ids"][i]
        t = st.magnitude
        assert np.all(np.diff(t) > 0) and (t.size == 0 or (t[0] > 0 and t[-1] <= T1 + T2))
        np.testing.assert_allclose(t / DT, np.round(t / DT), atol=1e-6)   # on the grid
        total += t.size
    assert total > 10                                             # the cells do fire


UNITS = {"v": "mV", "gsyn_exc": "uS", "gsyn_inh": "uS", "gsyn_receptor_2": "uS",
         "threshold": "mV", "threshold_spike": "mV", "threshold_voltage": "mV", "asc_sum": "nA"}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_analogsignal_units_shape_annotations(script, name):
    sig = _signal(script["seg0_a"].segments[0], name)
    assert sig.units == pq.Quantity(1.0, UNITS[name]).units
    n_samples = int(round((T1 + T2) / DT)) + 1              # 0, dt, ..., t inclusive
    assert sig.shape == (n_samples, N)
    assert float(sig.t_start) == 0.0
    assert float(sig.sampling_period.rescale("ms")) == pytest.approx(DT)
    np.testing.assert_allclose(sig.times.rescale("ms").magnitude,
                               np.arange(n_samples) * DT, atol=1e-9)
    assert sig.annotations["source_population"] == "pop_a"
    np.testing.assert_array_equal(sig.annotations["channel_ids"], script["ids"])
    np.testing.assert_array_equal(sig.array_annotations["channel_index"], np.arange(N))
    assert np.all(np.isfinite(sig.magnitude))


def test_signal_values_are_in_pynn_units(script):
    seg = script["seg0_a"].segments[0]
    v = _signal(seg, "v").magnitude
    np.testing.assert_allclose(v[0], [-70.0, -72.0, -74.0, -76.0, -60.0])   # initial values
    assert v.min() > -100 and v.max() < 0                                # mV, not V
    thr = _signal(seg, "threshold").magnitude
    np.testing.assert_allclose(thr[0], -51.68, atol=1e-9)       # absolute, th_inf at t=0
    # one input spike of W_PORT2 uS on port 2 at 5 ms (+1 ms delay) peaks at W_PORT2 uS
    g2 = _signal(seg, "gsyn_receptor_2").magnitude
    assert g2[0, 0] == 0.0
    assert g2[:, 0].max() == pytest.approx(W_PORT2, rel=0.02)
    assert np.argmax(g2[:, 0]) * DT == pytest.approx(6.0 + 1.0, abs=0.15)  # t + d + tau_syn
    assert np.all(g2[:, 3] == 0.0)                              # cell 3 has no input
    # after-spike currents jump by sum(asc_amps) = -0.20812 nA at a spike
    asc = _signal(seg, "asc_sum").magnitude
    assert asc[0, 0] == 0.0
    assert -1.0 < asc.min() < -0.1                         # nA, not pA


# ------------------------------------------------------------------ views, sampling
def test_record_on_view(script):
    view_ids = script["view_ids"]
    seg = script["seg0_c"].segments[0]
    assert [int(st.annotations["channel_id"]) for st in seg.spiketrains] == view_ids
    v = _signal(seg, "v")
    assert v.shape[1] == 3
    np.testing.assert_array_equal(v.annotations["channel_ids"], view_ids)
    np.testing.assert_array_equal(v.array_annotations["channel_index"], [1, 2, 3])
    # population c is identical to population a: same values for the same cells
    va = _signal(script["seg0_a"].segments[0], "v").magnitude
    np.testing.assert_array_equal(v.magnitude, va[:, 1:4])
    a_trains = script["seg0_a"].segments[0].spiketrains
    for st, ref in zip(seg.spiketrains, a_trains[1:4]):
        np.testing.assert_array_equal(st.magnitude, ref.magnitude)
    # the view's own get_data gives the same
    vv = _signal(script["seg0_view"].segments[0], "v")
    np.testing.assert_array_equal(vv.magnitude, v.magnitude)
    assert set(script["view_counts"]) == set(view_ids)


def test_sampling_interval(script):
    sig = _signal(script["seg0_b"].segments[0], "v")
    assert float(sig.sampling_period.rescale("ms")) == pytest.approx(0.5)
    assert sig.shape == (int((T1 + T2) / 0.5) + 1, N)
    va = _signal(script["seg0_a"].segments[0], "v").magnitude
    np.testing.assert_array_equal(sig.magnitude, va[::5])


def test_sampling_interval_must_be_a_multiple_of_dt():
    sim.setup(timestep=DT)
    p = sim.Population(2, sim.GLIF_cond())
    with pytest.raises(ValueError):
        p.record("v", sampling_interval=0.25)


# ------------------------------------------------------------------ counts
def test_spike_counts(script):
    trains = script["seg0_a"].segments[0].spiketrains
    expected = {script["ids"][i]: len(st) for i, st in enumerate(trains)}
    assert {int(k): v for k, v in script["counts"].items()} == expected
    assert script["mean_count"] == pytest.approx(np.mean(list(expected.values())))


# ------------------------------------------------------------------ reset, run splitting
def test_reset_gives_a_new_segment_with_identical_results(script):
    """Segment 0 ran run(T1) + run(T2), segment 1 ran run(T1 + T2) after reset(): the same
    spikes and signals (this also checks that the Poisson input replays after reset)."""
    assert script["t_after_run1"] == pytest.approx(T1)
    assert script["t_after_reset"] == 0.0
    block = script["both_a"]
    assert [s.name for s in block.segments] == ["segment000", "segment001"]
    s0, s1 = block.segments
    for st0, st1 in zip(s0.spiketrains, s1.spiketrains):
        np.testing.assert_array_equal(st0.magnitude, st1.magnitude)
    for name in UNITS:
        np.testing.assert_array_equal(_signal(s0, name).magnitude, _signal(s1, name).magnitude,
                                      err_msg=name)
    # and the cached first segment is the one get_data returned before the reset
    np.testing.assert_array_equal(_signal(s0, "v").magnitude,
                                  _signal(script["seg0_a"].segments[0], "v").magnitude)


def test_get_data_clear(script):
    empty = script["after_clear_empty"]
    # cleared: no cached segment; the current one has no samples or spikes yet
    assert len(empty.segments) == 1
    assert sum(len(st) for st in empty.segments[0].spiketrains) == 0
    seg = script["after_clear"].segments[0]
    assert len(script["after_clear"].segments) == 1
    v = _signal(seg, "v")
    assert float(v.t_start) == pytest.approx(T1 + T2)
    assert v.shape == (int(round(T3 / DT)) + 1, N)
    for st in seg.spiketrains:
        assert float(st.t_start) == pytest.approx(T1 + T2)
        assert np.all(st.magnitude > T1 + T2)
    # continuity: the first sample after clearing is the last one before it
    last = _signal(script["both_a"].segments[1], "v").magnitude[-1]
    np.testing.assert_array_equal(v.magnitude[0], last)


# ------------------------------------------------------------------ files
def _same_block(b1, b2, variables):
    s1, s2 = b1.segments[-1], b2.segments[-1]
    assert len(s1.spiketrains) == len(s2.spiketrains)
    for x, y in zip(s1.spiketrains, s2.spiketrains):
        np.testing.assert_array_equal(x.magnitude, y.magnitude)
        assert float(x.t_stop) == float(y.t_stop)
    for name in variables:
        x, y = _signal(s1, name), _signal(s2, name)
        assert x.units == y.units
        np.testing.assert_array_equal(x.magnitude, y.magnitude)


def test_write_data_pickle_round_trip(script):
    tmp = script["tmp"]
    block = neo.io.PickleIO(str(tmp / "a.pkl")).read_block()
    _same_block(block, script["seg0_a"], UNITS)
    assert block.segments[0].analogsignals[0].annotations["source_population"] == "pop_a"
    with open(tmp / "a_io.pkl", "rb") as f:
        partial = pickle.load(f)
    assert sorted(s.name for s in partial.segments[0].analogsignals) == ["v"]
    _same_block(partial, script["seg0_a"], ["v"])


def test_write_data_matlab_round_trip(script):
    block = neo.io.NeoMatlabIO(str(script["tmp"] / "a.mat")).read_block()
    ours = script["seg0_a"].segments[0]
    seg = block.segments[0]
    assert len(seg.spiketrains) == len(ours.spiketrains)
    for x, y in zip(seg.spiketrains, ours.spiketrains):
        np.testing.assert_array_equal(x.rescale("ms").magnitude, y.rescale("ms").magnitude)
    v_ours = ours.filter(name="v")[0]
    v_back = [a for a in seg.analogsignals if a.name == "v"][0]
    np.testing.assert_array_equal(v_back.rescale("mV").magnitude, v_ours.magnitude)


def test_write_data_nix_round_trip(script):
    if script["nix"] is None:
        pytest.skip("nixio is not installed")
    io = neo.io.NixIO(str(script["nix"]), mode="ro")
    try:
        block = io.read_block()
    finally:
        io.close()
    _same_block(block, script["seg0_a"], UNITS)


def test_record_to_file_written_by_end(script):
    path = script["end_file"]
    assert path.exists()
    block = neo.io.PickleIO(str(path)).read_block()
    assert sorted(s.name for s in block.segments[-1].analogsignals) == ["v"]
    # the last segment is the one after clear(): T3 ms from T1 + T2
    v = _signal(block.segments[-1], "v")
    np.testing.assert_array_equal(v.magnitude,
                                  _signal(script["after_clear"].segments[0], "v").magnitude)
