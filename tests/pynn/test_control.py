"""Control and procedural API, Population get/set/initialize, bad input, spike sources and
GLIF variants."""

import numpy as np
import pytest

import pynn_brainpy as sim
from pyNN import errors
from pyNN.random import NumpyRNG, RandomDistribution

# PyNN marks its procedural record()/initialize() as deprecated; they are tested here anyway
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated:DeprecationWarning")

FLAGS = ("spike_dependent_threshold", "after_spike_currents", "adapting_threshold")


# ------------------------------------------------------------------ setup and state queries
def test_setup_keywords_and_state_queries():
    assert sim.setup(timestep=0.05, min_delay="auto", max_delay=7.0, rng_seed=3,
                     spike_precision="on_grid", threads=4, verbosity="error") == 0
    assert sim.get_time_step() == 0.05
    assert sim.get_min_delay() == 0.05
    assert sim.get_max_delay() == 7.0
    assert sim.get_current_time() == 0.0
    assert sim.num_processes() == 1 and sim.rank() == 0
    state = sim.simulator.state
    assert state.precision == "float64" and state.rng_seed == 3
    # 'auto': the shortest delay in the network (one step while there is none)
    p = sim.Population(2, sim.GLIF_cond())
    sim.Projection(p, p, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01, delay=0.3),
                   receptor_type="excitatory")
    assert sim.get_min_delay() == pytest.approx(0.3)
    with pytest.raises(ValueError, match="spike_precision"):
        sim.setup(spike_precision="exact")
    sim.setup(spike_precision="off_grid")
    assert sim.simulator.state.spike_precision == "off_grid"
    sim.setup(timestep=0.1, min_delay=0.5, max_delay="auto", precision="float32")
    assert sim.get_min_delay() == 0.5 and sim.get_max_delay() == 10.0
    assert sim.simulator.state.precision == "float32"
    sim.setup()                                                # PyNN's defaults
    assert sim.get_time_step() == 0.1 and sim.simulator.state.precision == "float64"
    assert sim.simulator.state.spike_precision == "on_grid"


@pytest.mark.parametrize("kwargs", [{"precision": "float16"}, {"timestep": -0.1},
                                    {"timestep": 0.1, "min_delay": 0.05}])
def test_setup_refuses_bad_values(kwargs):
    # (PyNN's own common.setup raises a bare Exception for min_delay < timestep)
    with pytest.raises(Exception, match="precision|timestep|min_delay"):
        sim.setup(**kwargs)


def test_setup_discards_the_previous_network():
    sim.setup()
    sim.Population(3, sim.GLIF_cond())
    sim.setup()
    assert sim.simulator.state.populations == []
    p = sim.Population(2, sim.GLIF_cond())
    assert int(p.first_id) == 0


def test_run_run_until_reset_and_time():
    sim.setup(timestep=0.1)
    p = sim.Population(2, sim.GLIF_cond(i_offset=0.5))
    p.record("spikes")
    assert sim.run(10.0) == pytest.approx(10.0)
    assert sim.get_current_time() == pytest.approx(10.0)
    sim.run_until(19.7)                # (run lengths of 97-128 steps: one compilation)
    assert sim.get_current_time() == pytest.approx(19.7)
    sim.run_for(10.3)
    assert sim.get_current_time() == pytest.approx(30.0)
    trains = p.get_data().segments[0].spiketrains
    assert sum(len(t) for t in trains) > 0
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(30.0)
    block = p.get_data()
    assert len(block.segments) == 2
    for a, b in zip(block.segments[0].spiketrains, block.segments[1].spiketrains):
        np.testing.assert_array_equal(a.magnitude, b.magnitude)


# ------------------------------------------------------------------ procedural API
def test_procedural_create_connect_record_initialize(tmp_path):
    sim.setup(timestep=0.1)
    cells = sim.create(sim.GLIF_cond, {"tau_syn": [0.5, 2.0, 1.0],
                                       "e_rev": [0.0, -85.0, -30.0]}, n=3)
    assert isinstance(cells, sim.Population) and cells.size == 3
    assert cells.celltype.n_ports == 3
    src = sim.create(sim.SpikeSourceArray, {"spike_times": [2.0, 4.0]}, n=2)
    prj = sim.connect(src, cells, weight=0.01, delay=1.2, receptor_type="receptor_2", p=1.0)
    assert isinstance(prj, sim.Projection) and len(prj) == 6
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.01)
    np.testing.assert_allclose(prj.get("delay", format="array"), 1.2)
    sim.initialize(cells, v=-65.0)
    np.testing.assert_array_equal(cells.initial_values["v"].evaluate(), -65.0)
    path = tmp_path / "v.pkl"
    sim.record("v", cells, str(path))
    sim.run(5.0)
    sim.end()
    import neo
    block = neo.io.PickleIO(str(path)).read_block()
    v = block.segments[0].analogsignals[0]
    assert v.name == "v" and v.shape == (51, 3)
    np.testing.assert_allclose(v.magnitude[0], -65.0)


def test_procedural_set_in_procedural_api_module():
    from pynn_brainpy import procedural_api
    sim.setup()
    cells = sim.Population(3, sim.GLIF_cond())
    procedural_api.set(cells, v_thresh=-50.0)
    assert cells.get("v_thresh") == -50.0
    procedural_api.set(cells[1:], tau_refrac=[2.0, 3.0])
    np.testing.assert_allclose(cells.get("tau_refrac"), [3.75, 2.0, 3.0])


def test_procedural_set_exported():
    sim.setup()
    cells = sim.Population(3, sim.GLIF_cond())
    sim.set(cells, v_thresh=-50.0)
    assert cells.get("v_thresh") == -50.0


# ------------------------------------------------------------------ Population get/set
def test_population_get_set_scalars_arrays_lists_random():
    sim.setup()
    p = sim.Population(4, sim.GLIF_cond())
    assert p.get("v_thresh") == pytest.approx(-51.68)
    assert p.get("cm") == pytest.approx(0.05872) and p.get("tau_m") == pytest.approx(
        58.72 / 9.43)
    p.set(v_thresh=-50.0)
    assert p.get("v_thresh") == -50.0
    p.set(v_thresh=np.array([-50.0, -51.0, -52.0, -53.0]))
    np.testing.assert_array_equal(p.get("v_thresh"), [-50.0, -51.0, -52.0, -53.0])
    p.set(tau_refrac=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(p.get("tau_refrac"), [1.0, 2.0, 3.0, 4.0])
    p.set(v_thresh=RandomDistribution("uniform", (-55.0, -50.0), rng=NumpyRNG(1)))
    v = p.get("v_thresh")
    assert v.shape == (4,) and np.all((v >= -55) & (v <= -50)) and len(np.unique(v)) == 4
    expected = NumpyRNG(1).next(4, "uniform", {"low": -55.0, "high": -50.0})
    np.testing.assert_allclose(v, expected)
    # tau_m is computed from cm and g: setting one keeps the other
    p.set(tau_m=10.0)
    assert p.get("tau_m") == pytest.approx(10.0)
    p.set(cm=0.2)
    assert p.get("cm") == pytest.approx(0.2) and p.get("tau_m") == pytest.approx(10.0)
    # vector parameters
    p.set(asc_amps=[-0.01, -0.1])
    assert list(p.get("asc_amps").value) == pytest.approx([-0.01, -0.1])
    # views
    p[2:].set(v_rest=-70.0)
    np.testing.assert_allclose(p.get("v_rest"), [-78.85, -78.85, -70.0, -70.0])
    np.testing.assert_allclose(p[1:3].get("v_rest"), [-78.85, -70.0])
    # views of views, and views with index lists in any order
    p[1:4][1:].set(v_reset=-80.0)
    np.testing.assert_allclose(p.get("v_reset"), [-78.85, -78.85, -80.0, -80.0])
    np.testing.assert_allclose(p[1:4][1:].get("v_reset"), -80.0)
    p[[3, 0]].set(tau_refrac=[7.0, 8.0])          # PyNN sorts the view's mask: [0, 3]
    np.testing.assert_allclose(p.get("tau_refrac"), [7.0, 2.0, 3.0, 8.0])
    p[::2][1:].initialize(v=-66.0)
    np.testing.assert_allclose(p.initial_values["v"].evaluate(), [-78.85, -78.85, -66.0,
                                                                   -78.85])


def test_population_set_refuses_bad_values_and_keeps_the_old_ones():
    sim.setup()
    p = sim.Population(3, sim.GLIF_cond())
    with pytest.raises(errors.InvalidParameterValueError):
        p.set(v_thresh=-100.0)                     # below v_reset
    assert p.get("v_thresh") == pytest.approx(-51.68)
    with pytest.raises(errors.InvalidParameterValueError):
        p.set(tau_m=np.array([5.0, -1.0, 5.0]))
    assert p.get("tau_m") == pytest.approx(58.72 / 9.43)
    with pytest.raises(errors.NonExistentParameterError):
        p.set(foo=1.0)
    with pytest.raises(errors.NonExistentParameterError):
        p.get("foo")


@pytest.mark.parametrize("params", [
    {"tau_m": -1.0}, {"cm": 0.0}, {"v_thresh": -90.0}, {"tau_refrac": -1.0},
    {"tau_syn": [0.5, -1.0]}, {"tau_syn": [0.5, 1.0], "e_rev": [0.0]},
    {"v_thresh": RandomDistribution("uniform", (-100.0, -50.0), rng=NumpyRNG(2))},
    {"v_thresh": np.array([-50.0, -50.0, -50.0, -50.0, np.nan])},
    {"tau_refrac": [1.0, 2.0, -3.0, 1.0, 1.0]},
])
def test_bad_parameter_values_are_refused_at_creation(params):
    sim.setup()
    with pytest.raises(errors.InvalidParameterValueError):
        sim.Population(5, sim.GLIF_cond(**params))
    assert sim.simulator.state.populations == []


def test_native_type_bad_value_and_unknown_parameter():
    sim.setup()
    native = sim.native_cell_type("glif_cond")
    with pytest.raises(errors.InvalidParameterValueError):
        sim.Population(2, native(g_m=-1.0))
    with pytest.raises(errors.NonExistentParameterError):
        native(v_thresh=-50.0)                                 # a PyNN name, not NEST's
    with pytest.raises(errors.NonExistentParameterError):
        sim.GLIF_cond(V_th=-50.0)
    with pytest.raises(errors.NoModelAvailableError):
        sim.native_cell_type("iaf_psc_alpha_nonexistent")


def test_initialize_random_and_reset_restores_the_same_values():
    sim.setup(timestep=0.1)
    p = sim.Population(6, sim.GLIF_cond())
    p.initialize(v=RandomDistribution("uniform", (-75.0, -60.0), rng=NumpyRNG(5)))
    expected = NumpyRNG(5).next(6, "uniform", {"low": -75.0, "high": -60.0})
    p[:2].initialize(v=-55.5)
    expected[:2] = -55.5
    p.record("v")
    sim.run(2.0)
    sim.reset()
    sim.run(2.0)
    segs = p.get_data().segments
    for seg in segs:
        np.testing.assert_allclose(seg.analogsignals[0].magnitude[0], expected)
    np.testing.assert_array_equal(segs[0].analogsignals[0].magnitude,
                                  segs[1].analogsignals[0].magnitude)
    with pytest.raises(errors.NonExistentParameterError):
        p.initialize(foo=1.0)
        sim.run(0.1)


def test_array_tau_m_in_the_cell_type():
    sim.setup()
    tau_m = np.array([5.0, 6.0, 7.0, 8.0, 9.0])
    p = sim.Population(5, sim.GLIF_cond(tau_m=tau_m))
    np.testing.assert_allclose(p.get("tau_m"), tau_m)


# ------------------------------------------------------------------ GLIF variants
@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_variants(number):
    flags = {1: (False, False, False), 2: (True, False, False), 3: (False, True, False),
             4: (True, True, False), 5: (True, True, True)}[number]
    ct = sim.GLIF_cond.variant(number, v_thresh=-50.0)
    assert ct.flags == flags and ct.glif_variant == number
    assert ct.parameter_space["v_thresh"].base_value == -50.0
    by_flags = sim.GLIF_cond(**dict(zip(FLAGS, flags)))
    assert by_flags.glif_variant == number
    sim.setup()
    p = sim.Population(2, ct)
    assert tuple(bool(np.all(p.get(f))) for f in FLAGS) == flags
    assert tuple(bool(np.any(p.get(f))) for f in FLAGS) == flags


@pytest.mark.parametrize("flags", [(False, False, True), (True, False, True),
                                   (False, True, True)])
def test_invalid_flag_combination_refused(flags):
    sim.setup()
    with pytest.raises(errors.InvalidParameterValueError, match="GLIF"):
        sim.Population(2, sim.GLIF_cond(**dict(zip(FLAGS, flags))))
    with pytest.raises(errors.InvalidParameterValueError):
        sim.GLIF_cond.variant(6)
    with pytest.raises(errors.InvalidParameterValueError):
        sim.GLIF_cond.variant(2, adapting_threshold=True)
    p = sim.Population(2, sim.GLIF_cond())
    with pytest.raises(errors.InvalidParameterValueError):
        p.set(**dict(zip(FLAGS, flags)))
    with pytest.raises(errors.InvalidParameterValueError):
        p.set(adapting_threshold=np.array([True, False]))      # one variant per population


def test_receptor_types_follow_population_set_of_tau_syn():
    sim.setup()
    p = sim.Population(2, sim.GLIF_cond())
    p.set(tau_syn=[0.5, 2.0, 1.0], e_rev=[0.0, -85.0, -30.0])
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    sim.Projection(src, p, sim.OneToOneConnector(), receptor_type="receptor_2")


# ------------------------------------------------------------------ spike sources
@pytest.mark.parametrize("times", [[3.0, 1.0], [-1.0, 2.0], [1.0, np.nan]])
def test_bad_spike_times_refused(times):
    sim.setup()
    with pytest.raises(errors.InvalidParameterValueError):
        sim.Population(2, sim.SpikeSourceArray(spike_times=times))
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0, 2.0]))
    with pytest.raises(errors.InvalidParameterValueError):
        src.set(spike_times=times)
    kept = src.get("spike_times")
    assert list(getattr(kept, "value", kept)) == [1.0, 2.0]


@pytest.mark.parametrize("params", [{"rate": -1.0}, {"rate": np.array([5.0, -5.0])},
                                    {"start": -1.0}, {"duration": -10.0},
                                    {"rate": np.nan}])
def test_bad_poisson_parameters_refused(params):
    sim.setup()
    with pytest.raises(errors.InvalidParameterValueError):
        sim.Population(2, sim.SpikeSourcePoisson(**params))


def test_spike_source_array_times_and_update_between_runs():
    """A SpikeSourceArray spike at t is recorded at t (NEST's stamp); new times set between
    runs are emitted, times already past are not."""
    sim.setup(timestep=0.1)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0, 2.5, 7.3], [0.1, 9.9]]))
    src.record("spikes")
    sim.run(5.0)
    src.set(spike_times=[[3.0, 6.0, 8.2], [12.0]])
    sim.run(10.0)
    trains = [st.magnitude for st in src.get_data().segments[0].spiketrains]
    np.testing.assert_allclose(trains[0], [1.0, 2.5, 6.0, 8.2], atol=1e-9)
    np.testing.assert_allclose(trains[1], [0.1, 12.0], atol=1e-9)


def _poisson_counts(seed, n=200, rate=50.0, t=400.0, start=50.0, duration=300.0):
    sim.setup(timestep=0.1, rng_seed=seed)
    src = sim.Population(n, sim.SpikeSourcePoisson(rate=rate, start=start,
                                                   duration=duration))
    src.record("spikes")
    sim.run(t)
    sim.reset()
    sim.run(t)
    segs = src.get_data().segments
    return [[st.magnitude for st in seg.spiketrains] for seg in segs]


def test_poisson_rate_window_and_reproducibility():
    first, replay = _poisson_counts(seed=17)
    for a, b in zip(first, replay):                 # reset() replays the same trains
        np.testing.assert_array_equal(a, b)
    all_spikes = np.concatenate(first)
    assert all_spikes.min() > 50.0 and all_spikes.max() <= 350.0 + 1e-9
    expected = 200 * 50.0 * 0.3                     # 3000 spikes
    assert abs(all_spikes.size - expected) < 4 * np.sqrt(expected)
    again, _ = _poisson_counts(seed=17)             # a fresh setup with the same seed
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    other, _ = _poisson_counts(seed=18)
    assert any(len(a) != len(b) or np.any(a != b) for a, b in zip(first, other))
    # the cells are independent: correlation of the counts across cells is small
    counts = np.array([len(a) for a in first])
    assert counts.std() > 0.5 * np.sqrt(15.0)


def test_poisson_heterogeneous_rates():
    sim.setup(timestep=0.1, rng_seed=3)
    rates = np.array([0.0, 20.0, 100.0, 400.0])
    src = sim.Population(4, sim.SpikeSourcePoisson(rate=rates, duration=1000.0))
    src.record("spikes")
    sim.run(1000.0)
    counts = np.array([len(st) for st in src.get_data().segments[0].spiketrains])
    assert counts[0] == 0
    assert np.all(np.abs(counts[1:] - rates[1:]) < 4 * np.sqrt(rates[1:]))
