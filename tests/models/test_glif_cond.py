"""glif_cond on its own: validation, inputs, chunking, precision, divergence."""

import brainstate
import numpy as np
import pytest

from glif_jax import run_jax_glif
from glif_scenarios import main_scenario
from pynn_brainpy.engine.drive import run_model
from pynn_brainpy.models.glif_cond import glif_cond

GLIF5 = dict(spike_dependent_threshold=True, after_spike_currents=True, adapting_threshold=True)


@pytest.fixture(autouse=True)
def x64():
    brainstate.environ.set(precision=64)
    with brainstate.environ.context(dt=0.1):
        yield


# One case per NEST check (spec §2); the message must name the parameter.
VALIDATION = [
    (dict(spike_dependent_threshold=False, after_spike_currents=True, adapting_threshold=True),
     "Incorrect model mechanism combination"),
    (dict(V_reset=-51.68), "V_reset: Reset potential must be smaller than threshold"),
    (dict(V_reset=-50.0, **GLIF5), "V_reset: Reset potential"),
    (dict(C_m=0.0), "C_m: Capacitance must be strictly positive"),
    (dict(g=-1.0), "g: Membrane conductance must be strictly positive"),
    (dict(t_ref=0.0), "t_ref: Refractory time constant must be strictly positive"),
    (dict(th_spike_decay=0.0, spike_dependent_threshold=True), "th_spike_decay: Spike induced"),
    (dict(voltage_reset_fraction=1.5, spike_dependent_threshold=True),
     "voltage_reset_fraction: Voltage fraction coefficient"),
    (dict(asc_amps=(1.0, 2.0, 3.0), after_spike_currents=True),
     "All after spike current parameters must have the same size"),
    (dict(asc_decay=(0.0, 0.1), after_spike_currents=True),
     "asc_decay: After-spike current time constant must be strictly positive"),
    (dict(asc_r=(1.0, -0.1), after_spike_currents=True),
     "asc_r: After spike current fraction following spike coefficients r"),
    (dict(th_voltage_decay=0.0, **GLIF5), "th_voltage_decay: Voltage-induced threshold"),
    (dict(th_voltage_decay=9.43 / 58.72, **GLIF5), "th_voltage_decay: must differ from g/C_m"),
    (dict(tau_syn=(0.2, 2.0, 5.0)), "E_rev (2) and tau_syn (3), must have the same size"),
    (dict(tau_syn=(0.2, -2.0)), "tau_syn: All synaptic time constants must be strictly positive"),
    (dict(tau_syn=(), E_rev=()), "tau_syn: at least one synaptic port"),
    (dict(g=np.array([9.43, 0.0, 9.43])), "g: Membrane conductance"),
    (dict(g=np.ones(4)), "g: expected a scalar or an array of shape (3,)"),
]


@pytest.mark.parametrize("kwargs,message", VALIDATION)
def test_invalid_parameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match="glif_cond") as info:
        glif_cond(3, **kwargs)
    assert message in str(info.value)


def test_checks_of_disabled_mechanisms_are_skipped():
    glif_cond(1, th_spike_decay=0.0, voltage_reset_fraction=2.0)           # GLIF1: no R
    glif_cond(1, asc_amps=(1.0, 2.0, 3.0), asc_decay=(0.0, 0.1))           # no ASC
    glif_cond(1, th_voltage_decay=0.0, spike_dependent_threshold=True)     # no A
    glif_cond(1, V_reset=-51.69)                                          # just below V_th


def test_quantities_are_converted():
    import saiunit as u
    m = glif_cond(1, g=0.00943 * u.uS, t_ref=3750.0 * u.us, tau_syn=[200.0, 2000.0] * u.us)
    np.testing.assert_allclose(m.params["g"], 9.43)
    np.testing.assert_allclose(m.params["t_ref"], 3.75)
    np.testing.assert_allclose(m.params["tau_syn"], [[0.2, 2.0]])
    with pytest.raises(ValueError, match="C_m must be given in units of"):
        glif_cond(1, C_m=5.0 * u.mV)


def _drive(model, n_steps, w_step=50, weight=30.0, current=300.0, port="receptor_0"):
    delta = {port: np.zeros((n_steps,) + model.varshape)}
    delta[port][w_step] = weight
    cur = np.full((n_steps,) + model.varshape, current)
    return delta, cur


def test_unlabelled_delta_input_goes_to_port_0():
    a, b = glif_cond(1), glif_cond(1)
    for m, label in ((a, None), (b, "receptor_0")):
        m.init_state()
        m.add_delta_input("w", 10.0, label=label)
        m.update(0.0)
    np.testing.assert_array_equal(a.dg_syn.value, b.dg_syn.value)
    assert a.dg_syn.value[0, 0] > 0 and a.dg_syn.value[1, 0] == 0  # port-major


def test_unknown_port_label_is_refused():
    m = glif_cond(1)
    m.init_state()
    m.add_delta_input("w", 10.0, label="receptor_2")
    with pytest.raises(ValueError, match="unknown labels \\['receptor_2'\\]"):
        m.update(0.0)


def test_dt_change_without_init_is_refused():
    m = glif_cond(1)
    m.init_state()
    with brainstate.environ.context(dt=0.05):
        with pytest.raises(ValueError, match="initialised with dt = 0.1"):
            m.update(0.0)


def test_chunked_runs_equal_one_long_run():
    n = 3000
    one = glif_cond(2, **GLIF5)
    one.init_state()
    delta, cur = _drive(one, n, w_step=1500, weight=2000.0)
    whole = run_model(one, n, delta=delta, current=cur, record=["V_m", "g_1"])
    two = glif_cond(2, **GLIF5)
    two.init_state()
    parts = [run_model(two, 1000, delta={k: v[s:s + 1000] for k, v in delta.items()},
                       current=cur[s:s + 1000], record=["V_m", "g_1"]) for s in (0, 1000, 2000)]
    for key in ("spikes", "V_m", "g_1"):
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])
    assert whole["spikes"].sum() > 5


def test_V_is_absolute_and_settable():
    m = glif_cond(2, E_L=-70.0)
    m.init_state()
    np.testing.assert_allclose(m.V.value, [-70.0, -70.0])
    m.V.value = np.array([-60.0, -65.0])
    np.testing.assert_allclose(m.recordable("V_m"), [-60.0, -65.0])
    np.testing.assert_allclose(m.V_rel.value, [10.0, 5.0])


def test_asc_init_is_the_initial_state_with_zero_first_sum():
    m = glif_cond(1, asc_init=(10.0, 20.0), after_spike_currents=True)
    m.init_state()
    m.update(0.0)
    # First step: V integrates with Σ = 0 (NEST with ASCurrents set), then Σ becomes the mean.
    np.testing.assert_allclose(m.recordable("V_m"), [-78.85])
    assert m.recordable("ASCurrents_sum")[0] > 29.0


def test_divergence_raises_a_clear_error():
    m = glif_cond(1)
    m.init_state()
    n = 100
    delta, cur = _drive(m, n, w_step=10, weight=-1e5, current=0.0)
    run_model(m, n, delta=delta, current=cur)
    with pytest.raises(FloatingPointError, match="glif_cond .* became non-finite"):
        m.check_finite()


def test_float32_keeps_spike_times_close():
    """float32 regression signal (spec §11.14): spikes within 3 steps of float64 at dt 0.01."""
    sc = main_scenario(5, 0.01, 30.0)
    f64 = run_jax_glif(**sc)
    brainstate.environ.set(precision=32)
    try:
        f32 = run_jax_glif(**sc, precision=32)
    finally:
        brainstate.environ.set(precision=64)
    assert f32["V_m"].dtype == np.float32
    a, b = f64["spike_steps"][0], f32["spike_steps"][0]
    assert len(a) == len(b)
    assert np.max(np.abs(a - b)) <= 3
