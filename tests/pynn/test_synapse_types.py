"""Plastic and stochastic synapse types through the PyNN API (``import pynn_brainpy as sim``).

The dynamics themselves are compared with NEST in tests/models/test_synapses_nest.py; here:
the wiring through the engine (delays, weight units, the order of pre and post spikes) by
replaying a PyNN run's recorded spikes through the dynamics alone, plastic weights read and
set with Projection.get/set between runs, parameters changed between runs, and bad
parameters refused with PyNN's error types naming the parameter.
"""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pyNN import errors

import pynn_brainpy as sim
from pynn_brainpy.models.synapses import StdpSynapse

DT = 0.1


@pytest.fixture(autouse=True)
def _setup():
    sim.setup(timestep=DT, min_delay=DT)
    yield
    sim.end()


def _stdp_network(weight_dependence, t_stop=400.0):
    """Two spike-array sources onto three IF_curr_exp cells made to fire by a strong static
    input at known times; STDP connections with different delays."""
    rng = np.random.default_rng(5)
    pre_times = [np.round(np.sort(rng.choice(np.arange(10, 3900), 25, replace=False)) * DT, 1)
                 for _ in range(2)]
    drive_times = [np.round(np.sort(rng.choice(np.arange(10, 3900), 20, replace=False)) * DT, 1)
                   for _ in range(3)]
    pre = sim.Population(2, sim.SpikeSourceArray(spike_times=pre_times))
    drive = sim.Population(3, sim.SpikeSourceArray(spike_times=drive_times))
    post = sim.Population(3, sim.IF_curr_exp(tau_refrac=0.5))
    sim.Projection(drive, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=20.0))
    stdp = sim.STDPMechanism(sim.SpikePairRule(tau_plus=15.0, tau_minus=25.0, A_plus=0.05,
                                               A_minus=0.06),
                             weight_dependence, weight=0.2, delay=1.0)
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), stdp)
    prj.set(delay=np.array([[0.5, 1.0, 2.3], [0.1, 1.7, 3.0]]))
    pre.record("spikes")
    post.record("spikes")
    return pre, post, prj, t_stop


def _counts(spiketrains, n, steps):
    out = np.zeros((steps, n))
    for i, st in enumerate(spiketrains):
        np.add.at(out[:, i], np.round(np.asarray(st.magnitude) / DT).astype(int) - 1, 1)
    return out


@pytest.mark.parametrize("wd, mu", [
    (sim.AdditiveWeightDependence(w_min=0.0, w_max=0.5), (0.0, 0.0)),
    (sim.GutigWeightDependence(w_min=0.0, w_max=0.5, mu_plus=0.3, mu_minus=0.8), (0.3, 0.8))])
def test_stdp_weights_equal_the_dynamics_replayed_on_the_recorded_spikes(wd, mu):
    pre, post, prj, t_stop = _stdp_network(wd)
    w0 = prj.get("weight", format="array")
    sim.run(t_stop)
    w1 = prj.get("weight", format="array")
    steps = int(round(t_stop / DT))
    pre_c = _counts(pre.get_data().segments[0].spiketrains, 2, steps)
    post_c = _counts(post.get_data().segments[0].spiketrains, 3, steps)
    assert post_c.sum() > 30
    i, j = np.divmod(np.arange(6), 3)
    delays = prj.get("delay", format="array")[i, j]
    dyn = StdpSynapse(np.round(delays / DT).astype(int), DT, tau_plus=15.0, tau_minus=25.0,
                      A_plus=0.05, A_minus=0.06, mu_plus=mu[0], mu_minus=mu[1],
                      w_max=500.0)                                   # pA
    with brainstate.environ.context(precision=64):
        state = {k: jnp.asarray(v) for k, v in dyn.initial_state(w0[i, j] * 1000.0, 2, 3).items()}
        params = {k: jnp.asarray(v, jnp.float64) for k, v in dyn.params.items()}

        def body(s, x):
            m, a, b = x
            return dyn.step(s, params, a, b, jnp.asarray(i), jnp.asarray(j),
                            (m + 1).astype(jnp.float64) * DT, None)

        state, _ = jax.lax.scan(body, state, (jnp.arange(steps), jnp.asarray(pre_c),
                                              jnp.asarray(post_c)))
    np.testing.assert_allclose(w1[i, j], np.asarray(state["weight"]) / 1000.0, rtol=1e-9)
    assert np.abs(w1 - w0).max() > 0.01


def test_plastic_weights_can_be_set_between_runs():
    pre, post, prj, t_stop = _stdp_network(sim.MultiplicativeWeightDependence(w_max=0.5))
    sim.run(200.0)
    w1 = prj.get("weight", format="array")
    assert not np.allclose(w1, 0.2)
    prj.set(weight=0.3)
    np.testing.assert_array_equal(prj.get("weight", format="array"), 0.3)
    sim.run(0.1)                                     # nothing happens in one step...
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.3)
    sim.run(200.0)                                   # ...then learning goes on from 0.3
    w2 = prj.get("weight", format="array")
    assert np.all((w2 >= 0) & (w2 <= 0.5)) and not np.allclose(w2, 0.3)
    assert prj.get("A_plus", format="list", with_address=False)[0] == 0.05
    sim.reset()                 # PyNN: "synaptic weights [back] to their initial values"
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.3)
    sim.run(200.0)
    w3 = prj.get("weight", format="array")
    assert np.all((w3 >= 0) & (w3 <= 0.5)) and not np.allclose(w3, 0.3)


def test_zero_learning_rate_keeps_weights_and_parameters_update_between_runs():
    pre, post, prj, t_stop = _stdp_network(sim.AdditiveWeightDependence(w_max=0.5))
    prj.set(A_plus=0.0, A_minus=0.0)
    sim.run(200.0)
    np.testing.assert_allclose(prj.get("weight", format="array"), 0.2, rtol=1e-12)
    prj.set(A_plus=0.05)
    sim.run(200.0)
    assert prj.get("weight", format="array").max() > 0.2


def _psp_peaks(synapse_type, t_stop=120.0, spikes=(10.0, 20.0, 30.0, 40.0, 50.0)):
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=list(spikes)))
    cell = sim.Population(1, sim.IF_curr_exp(tau_syn_E=2.0, v_thresh=100.0))
    prj = sim.Projection(src, cell, sim.AllToAllConnector(), synapse_type)
    cell.record("v")
    sim.run(t_stop)
    v = np.asarray(cell.get_data().segments[0].analogsignals[0].magnitude)[:, 0]
    return prj, [v[int(s / DT):int((s + 10.0) / DT)].max() - v[int(s / DT)] for s in spikes]


def test_tsodyks_markram_depresses_and_U_can_be_changed():
    prj, peaks = _psp_peaks(sim.TsodyksMarkramSynapse(weight=2.0, U=0.5, tau_rec=800.0))
    assert peaks[0] > 1.0 and peaks[1] < 0.7 * peaks[0] and peaks[4] < peaks[1]
    assert prj.get("U", format="list", with_address=False) == [0.5]
    prj.set(U=0.0)                                   # no release at all
    sim.reset()
    sim.run(120.0)
    v = np.asarray(prj.post.get_data().segments[-1].analogsignals[0].magnitude)[:, 0]
    assert np.ptp(v) < 1e-9


def test_simple_stochastic_synapse_extremes():
    _, peaks = _psp_peaks(sim.SimpleStochasticSynapse(weight=2.0, p=1.0))
    sim.end()
    sim.setup(timestep=DT, min_delay=DT)
    _, static = _psp_peaks(sim.StaticSynapse(weight=2.0))
    np.testing.assert_allclose(peaks, static, rtol=1e-12)
    sim.end()
    sim.setup(timestep=DT, min_delay=DT)
    _, none = _psp_peaks(sim.SimpleStochasticSynapse(weight=2.0, p=0.0))
    assert np.max(np.abs(none)) < 1e-12


def test_multiquantal_and_stochastic_tsodyks_markram_run():
    _, quantal = _psp_peaks(sim.MultiQuantalSynapse(weight=1.0, U=1.0, n=3, tau_rec=1e5))
    assert quantal[0] > 0 and max(quantal[1:]) < 1e-9     # all 3 sites used, none recovered
    sim.end()
    sim.setup(timestep=DT, min_delay=DT)
    _, stm = _psp_peaks(sim.StochasticTsodyksMarkramSynapse(weight=1.0, U=1.0, tau_rec=1e5))
    assert stm[0] > 0 and max(stm[1:]) < 1e-9


@pytest.mark.parametrize("make, name", [
    (lambda: sim.SpikePairRule(tau_plus=-1.0), "tau_plus"),
    (lambda: sim.SpikePairRule(tau_minus=0.0), "tau_minus"),
    (lambda: sim.SpikePairRule(A_plus=-0.01), "A_plus"),
    (lambda: sim.SpikePairRule(A_minus=-0.01), "A_minus"),
    (lambda: sim.AdditiveWeightDependence(w_min=0.5, w_max=0.1), "w_min"),
    (lambda: sim.GutigWeightDependence(mu_plus=-1.0), "mu_plus"),
    (lambda: sim.Vogels2011Rule(tau=-5.0), "tau"),
    (lambda: sim.Vogels2011Rule(eta=-1.0), "eta"),
    (lambda: sim.TsodyksMarkramSynapse(U=1.5), "U"),
    (lambda: sim.TsodyksMarkramSynapse(tau_rec=-10.0), "tau_rec"),
    (lambda: sim.TsodyksMarkramSynapse(tau_facil=-1.0), "tau_facil"),
    (lambda: sim.SimpleStochasticSynapse(p=1.2), "p"),
    (lambda: sim.SimpleStochasticSynapse(p=-0.1), "p"),
    (lambda: sim.StochasticTsodyksMarkramSynapse(U=-0.1), "U"),
    (lambda: sim.MultiQuantalSynapse(n=0), "n"),
])
def test_bad_parameters_raise_invalid_parameter_value_error(make, name):
    with pytest.raises(errors.InvalidParameterValueError, match=rf"\b{name}\b"):
        make()


def test_bad_values_set_on_a_projection_are_refused():
    src = sim.Population(2, sim.SpikeSourceArray())
    cell = sim.Population(2, sim.IF_cond_exp())
    prj = sim.Projection(src, cell, sim.AllToAllConnector(),
                         sim.SimpleStochasticSynapse(weight=0.01, p=0.5))
    with pytest.raises(errors.InvalidParameterValueError, match=r"\bp\b"):
        prj.set(p=np.array([[0.5, 2.0], [0.1, 0.2]]))
    stdp = sim.STDPMechanism(sim.SpikePairRule(), sim.AdditiveWeightDependence(w_max=0.1),
                             weight=0.01)
    prj2 = sim.Projection(src, cell, sim.AllToAllConnector(), stdp)
    with pytest.raises(errors.InvalidParameterValueError, match="tau_plus"):
        prj2.set(tau_plus=-3.0)


def test_unsupported_combinations():
    with pytest.raises(NotImplementedError, match="dendritic_delay_fraction"):
        sim.STDPMechanism(sim.SpikePairRule(), sim.AdditiveWeightDependence(),
                          dendritic_delay_fraction=0.5)
    with pytest.raises(errors.NoModelAvailableError):
        sim.STDPMechanism(sim.Vogels2011Rule(), sim.MultiplicativeWeightDependence())
    # ElectricalSynapse is supported (tests/pynn/test_electrical_synapse.py); it has no delay
    with pytest.raises(errors.NonExistentParameterError, match="delay"):
        sim.ElectricalSynapse(weight=0.1, delay=1.0)


def test_vogels2011_weights_grow_with_coincident_spikes():
    pre, post, _, t_stop = _stdp_network(sim.AdditiveWeightDependence(w_max=0.5))
    rule = sim.STDPMechanism(sim.Vogels2011Rule(tau=20.0, eta=0.01, rho=3.0),
                             sim.AdditiveWeightDependence(w_max=0.5), weight=0.1)
    prj = sim.Projection(pre, post, sim.AllToAllConnector(), rule, receptor_type="inhibitory")
    sim.run(t_stop)
    w = prj.get("weight", format="array")
    assert np.all((w >= 0) & (w <= 0.5)) and not np.allclose(w, 0.1)


def test_projection_initialize_sets_synapse_state():
    """``Projection.initialize(a=0)``: no release site is available at the first spike, so
    nothing is transmitted until sites recover; an unknown state is refused."""
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0]))
    cells = sim.Population(2, sim.IF_cond_exp())
    syn = sim.MultiQuantalSynapse(U=1.0, n=3, tau_rec=1e6, weight=0.01, delay=1.0)
    prj = sim.Projection(src, cells, sim.AllToAllConnector(), syn, receptor_type="inhibitory")
    prj.initialize(a=[0.0, 3.0])
    with pytest.raises(errors.NonExistentParameterError):
        prj.initialize(w_run=1.0)
    cells.record("gsyn_inh")
    sim.run(20.0)
    g = np.asarray(cells.get_data().segments[0].filter(name="gsyn_inh")[0])
    assert g[:, 0].max() == 0.0                        # depleted: nothing released
    assert g[:, 1].max() == pytest.approx(0.03, rel=0.05)   # U = 1: all three sites release
