"""Plastic and stochastic synapse dynamics (pynn_brainpy.models.synapses) against NEST 3.10 live.

Spike trains under our control: spike_generator -> parrot_neuron (pre) and spike_generator ->
parrot_neuron (post; it archives spikes for STDP). The plastic connection goes pre parrot ->
post parrot on receptor 1 (a parrot does not repeat those spikes). The parrots' recorded spike
times drive our dynamics directly (a scan over steps, as the engine calls them).
Deterministic models must agree to 1e-9 (relative); stochastic ones statistically.
"""

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.models.synapses import (BernoulliSynapse, QuantalStpSynapse, StdpSynapse,
                                          StochasticStpSynapse, TsodyksSynapse,
                                          VogelsSprekelerSynapse)

nest = pytest.importorskip("nest")
DT = 0.1


@pytest.fixture(autouse=True)
def _environment():
    with brainstate.environ.context(dt=DT, precision=64):
        yield


def run_dynamics(dyn, weight, pre_counts, post_counts, pre_idx, post_idx, seed=0):
    """Our dynamics over ``len(pre_counts)`` steps (row m: the spikes of time (m+1)·dt)."""
    n_pre, n_post = pre_counts.shape[1], post_counts.shape[1]
    state = {k: jnp.asarray(v) for k, v in
             dyn.initial_state(np.asarray(weight, float), n_pre, n_post).items()}
    params = {k: jnp.asarray(v, jnp.float64) for k, v in dyn.params.items()}
    pre_idx, post_idx = (jnp.asarray(a, jnp.int32) for a in (pre_idx, post_idx))
    base = jax.random.PRNGKey(seed)

    def body(s, x):
        m, pre, post = x
        t = (m + 1).astype(jnp.float64) * DT
        return dyn.step(s, params, pre, post, pre_idx, post_idx, t, jax.random.fold_in(base, m))

    xs = (jnp.arange(len(pre_counts), dtype=jnp.int32), jnp.asarray(pre_counts, jnp.float64),
          jnp.asarray(post_counts, jnp.float64))
    state, sent = jax.jit(lambda s, xs: jax.lax.scan(body, s, xs))(state, xs)
    return {k: np.asarray(v) for k, v in state.items()}, np.asarray(sent)


def _counts(events, first_id, n, steps):
    out = np.zeros((steps, n))
    np.add.at(out, (np.round(events["times"] / DT).astype(int) - 1,
                    np.asarray(events["senders"]) - first_id), 1)
    return out


def _trains(rng, n, rate, t_stop, duplicates=0):
    out = []
    for _ in range(n):
        times = np.unique(np.round(rng.uniform(1.0, t_stop - 5.0, rng.poisson(rate * t_stop
                                                                             / 1000.0)) / DT))
        times = np.round(times * DT, 1)
        out.append(np.sort(np.concatenate([times, times[:duplicates]])))   # multiplicity
    return out


def _nest_network(pre_trains, post_trains, tau_minus=20.0):
    nest.ResetKernel()
    nest.set(resolution=DT, rng_seed=12345)
    n_pre, n_post = len(pre_trains), len(post_trains)
    sg_pre = nest.Create("spike_generator", n_pre, [{"spike_times": s} for s in pre_trains])
    sg_post = nest.Create("spike_generator", n_post,
                          [{"spike_times": s} for s in post_trains]) if n_post else None
    pre = nest.Create("parrot_neuron", n_pre)
    post = nest.Create("parrot_neuron", max(n_post, 1), {"tau_minus": tau_minus})
    nest.Connect(sg_pre, pre, "one_to_one", {"delay": DT})
    if n_post:
        nest.Connect(sg_post, post, "one_to_one", {"delay": DT})
    rec_pre, rec_post = nest.Create("spike_recorder"), nest.Create("spike_recorder")
    nest.Connect(pre, rec_pre)
    nest.Connect(post, rec_post)
    return pre, post, rec_pre, rec_post


def _nest_stdp(model, params, tau_minus, weights, delays, pre_trains, post_trains, t_stop):
    pre, post, rec_pre, rec_post = _nest_network(pre_trains, post_trains, tau_minus)
    n_post = len(post_trains)
    pre_idx, post_idx = np.divmod(np.arange(len(weights)), n_post)
    for c in range(len(weights)):
        nest.Connect(pre[int(pre_idx[c])], post[int(post_idx[c])], "one_to_one",
                     dict(params, synapse_model=model, weight=weights[c], delay=delays[c],
                          receptor_type=1))
    nest.Simulate(t_stop)
    conns = nest.GetConnections(pre, post)
    src = np.asarray(conns.source) - pre[0].global_id
    tgt = np.asarray(conns.target) - post[0].global_id
    w = np.asarray(conns.get("weight"))[np.lexsort((tgt, src))]
    steps = int(round(t_stop / DT))
    return (w, _counts(rec_pre.events, pre[0].global_id, len(pre_trains), steps),
            _counts(rec_post.events, post[0].global_id, n_post, steps), pre_idx, post_idx)


@pytest.fixture(scope="module")
def spike_trains():
    rng = np.random.default_rng(7)
    return (_trains(rng, 4, 25.0, 1500.0, duplicates=3), _trains(rng, 3, 25.0, 1500.0,
                                                                 duplicates=3), rng)


@pytest.mark.parametrize("mu", [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.4, 0.7)],
                         ids=["additive", "multiplicative", "add-pot-mult-dep", "gutig"])
def test_stdp_synapse_weights_match_nest(spike_trains, mu):
    pre_trains, post_trains, rng = spike_trains
    t_stop, n = 1500.0, 12
    delays = np.round(rng.integers(1, 30, n) * DT, 1)
    weights = rng.uniform(5.0, 45.0, n)
    A_plus, A_minus, W = 0.05, 0.06, 50.0
    nest_params = {"tau_plus": 15.0, "lambda": A_plus, "alpha": A_minus / A_plus,
                   "mu_plus": mu[0], "mu_minus": mu[1], "Wmax": W}
    w_nest, pre_c, post_c, pre_idx, post_idx = _nest_stdp(
        "stdp_synapse", nest_params, 25.0, weights, delays, pre_trains, post_trains, t_stop)
    dyn = StdpSynapse(np.round(delays / DT).astype(int), DT, tau_plus=15.0, tau_minus=25.0,
                      A_plus=A_plus, A_minus=A_minus, mu_plus=mu[0], mu_minus=mu[1],
                      w_max=W)
    state, sent = run_dynamics(dyn, weights, pre_c, post_c, pre_idx, post_idx)
    assert np.abs(w_nest - weights).max() > 1.0          # the weights did change
    np.testing.assert_allclose(state["weight"], w_nest, rtol=1e-9, atol=1e-12)
    # what was transmitted at the last presynaptic spike is the weight NEST reports
    last = [np.flatnonzero(pre_c[:, pre_idx[c]])[-1] for c in range(n)]
    np.testing.assert_allclose(sent[last, np.arange(n)] / pre_c[last, pre_idx], w_nest,
                               rtol=1e-9, atol=1e-12)


def test_vogels_sprekeler_synapse_weights_match_nest(spike_trains):
    pre_trains, post_trains, rng = spike_trains
    t_stop, n = 1500.0, 12
    delays = np.round(rng.integers(1, 30, n) * DT, 1)
    weights = rng.uniform(5.0, 45.0, n)
    w_nest, pre_c, post_c, pre_idx, post_idx = _nest_stdp(
        "vogels_sprekeler_synapse", {"tau": 15.0, "alpha": 0.2, "eta": 2.0, "Wmax": 50.0},
        15.0, weights, delays, pre_trains, post_trains, t_stop)
    dyn = VogelsSprekelerSynapse(np.round(delays / DT).astype(int), DT, tau=15.0, eta=2.0,
                                 alpha=0.2, w_max=50.0)
    state, _ = run_dynamics(dyn, weights, pre_c, post_c, pre_idx, post_idx)
    assert np.abs(w_nest - weights).max() > 1.0
    np.testing.assert_allclose(state["weight"], w_nest, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("U, tau_rec, tau_fac, tau_psc", [(0.5, 800.0, 0.0, 3.0),
                                                          (0.04, 100.0, 1000.0, 5.0),
                                                          (0.3, 50.0, 20.0, 2.0)])
def test_tsodyks_synapse_transmitted_weights_match_nest(U, tau_rec, tau_fac, tau_psc):
    rng = np.random.default_rng(3)
    t_stop = 600.0
    train = _trains(rng, 1, 100.0, t_stop, duplicates=3)
    pre, post, rec_pre, _ = _nest_network(train, [])
    recorder = nest.Create("weight_recorder")
    nest.CopyModel("tsodyks_synapse", "tm_recorded", {"weight_recorder": recorder})
    nest.Connect(pre, post, syn_spec={"synapse_model": "tm_recorded", "weight": 2.5,
                                      "delay": 1.0, "receptor_type": 1, "U": U,
                                      "tau_rec": tau_rec, "tau_fac": tau_fac,
                                      "tau_psc": tau_psc})
    nest.Simulate(t_stop)
    steps = int(round(t_stop / DT))
    ev = recorder.events
    nest_sent = np.zeros(steps)
    np.add.at(nest_sent, np.round(ev["times"] / DT).astype(int) - 1, ev["weights"])
    pre_c = _counts(rec_pre.events, pre[0].global_id, 1, steps)
    state, sent = run_dynamics(TsodyksSynapse(U, tau_rec, tau_fac, tau_psc), [2.5], pre_c,
                               np.zeros((steps, 1)), [0], [0])
    assert len(ev["weights"]) == pre_c.sum() > 40
    np.testing.assert_allclose(sent[:, 0], nest_sent, rtol=1e-9, atol=1e-14)
    assert np.ptp(ev["weights"]) > 0.1                   # depression/facilitation shows


def _recorded_transmissions(model, syn_params, n_conn, train, t_stop):
    """NEST: one presynaptic parrot onto ``n_conn`` connections; the weights it transmitted
    (a weight_recorder event per transmission)."""
    pre, post, rec_pre, _ = _nest_network([train], [])
    targets = nest.Create("parrot_neuron", n_conn)
    recorder = nest.Create("weight_recorder")
    nest.CopyModel(model, "recorded", {"weight_recorder": recorder})
    nest.Connect(pre, targets, "all_to_all",
                 dict(syn_params, synapse_model="recorded", delay=1.0, receptor_type=1))
    nest.Simulate(t_stop)
    steps = int(round(t_stop / DT))
    return recorder.events, _counts(rec_pre.events, pre[0].global_id, 1, steps)


def test_bernoulli_synapse_transmission_probability_matches_nest():
    p, n_conn, t_stop = 0.3, 200, 300.0
    train = np.round(np.arange(2.0, t_stop - 5.0, 3.0), 1)
    ev, pre_c = _recorded_transmissions("bernoulli_synapse", {"weight": 1.5, "p_transmit": p},
                                        n_conn, train, t_stop)
    n_trials = n_conn * pre_c.sum()
    _, sent = run_dynamics(BernoulliSynapse(p, n_conn), np.full(n_conn, 1.5), pre_c,
                           np.zeros((len(pre_c), 1)), np.zeros(n_conn), np.zeros(n_conn))
    ours = np.sum(sent) / 1.5 / n_trials
    theirs = len(ev["weights"]) / n_trials
    sigma = np.sqrt(p * (1 - p) / n_trials)
    assert abs(ours - p) < 4 * sigma and abs(theirs - p) < 4 * sigma
    assert set(np.unique(sent)) <= {0.0, 1.5}
    # independent across connections and spikes
    assert 0 < np.mean(sent[pre_c[:, 0] > 0] > 0, axis=0).std()


def test_quantal_stp_synapse_release_statistics_match_nest():
    U, tau_rec, n_sites, w, n_conn, t_stop = 0.4, 40.0, 3, 0.5, 300, 200.0
    train = np.round(np.arange(2.0, t_stop - 5.0, 8.0), 1)
    ev, pre_c = _recorded_transmissions(
        "quantal_stp_synapse", {"weight": w, "U": U, "u": U, "tau_rec": tau_rec,
                                "tau_fac": 0.0, "n": n_sites}, n_conn, train, t_stop)
    steps = len(pre_c)
    theirs = np.zeros(steps)
    np.add.at(theirs, np.round(ev["times"] / DT).astype(int) - 1, ev["weights"])
    _, sent = run_dynamics(QuantalStpSynapse(U, tau_rec, 0.0, n_sites, n_conn),
                           np.full(n_conn, w), pre_c, np.zeros((steps, 1)),
                           np.zeros(n_conn), np.zeros(n_conn))
    spikes = np.flatnonzero(pre_c[:, 0])
    ours_mean = sent[spikes].sum(axis=1) / n_conn / w       # released sites per connection
    theirs_mean = theirs[spikes] / n_conn / w
    assert ours_mean[0] == pytest.approx(n_sites * U, abs=4 * np.sqrt(n_sites * U * (1 - U)
                                                                      / n_conn))
    # depression: the mean release per spike falls, the same way in both
    assert ours_mean[0] > 1.5 * ours_mean[5:].mean()
    se = np.sqrt(np.var(sent[spikes[5:]] / w) / (n_conn * len(spikes[5:])) * 2)
    assert abs(ours_mean[5:].mean() - theirs_mean[5:].mean()) < 5 * se + 1e-12
    assert np.all(np.isin(np.unique(sent / w), np.arange(n_sites * n_conn + 1)))


def _stochastic_stp_reference(U, tau_rec, tau_fac, times, n_conn, rng):
    """PyNN's stochastic_stp_synapse.h send(), in NumPy, for ``n_conn`` connections."""
    u, R = np.zeros(n_conn), np.ones(n_conn)
    t_surv, t_last = np.zeros(n_conn), 0.0
    released = []
    for t in times:
        if tau_fac > 1e-10:
            u = u * np.exp(-(t - t_last) / tau_fac)
            u = u + U * (1 - u)
        else:
            u = np.full(n_conn, U)
        r1, r2 = rng.random(n_conn), rng.random(n_conn)
        unrec = R == 0
        recovered = unrec & (r1 > np.exp(-(t - t_surv) / tau_rec))
        t_surv = np.where(unrec & ~recovered, t, t_surv)
        R = np.where(recovered, 1.0, R)
        release = (R == 1) & (r2 < u)
        R = np.where(release, 0.0, R)
        t_surv = np.where(release, t, t_surv)
        t_last = t
        released.append(release.mean())
    return np.array(released)


def test_stochastic_stp_synapse_statistics():
    """No NEST model (PyNN's extension is not built into the NEST wheel): the release
    fraction per spike against a NumPy transcription of the extension's C++."""
    U, tau_rec, tau_fac, n_conn, t_stop = 0.5, 30.0, 50.0, 2000, 150.0
    times = np.round(np.arange(2.0, t_stop - 5.0, 5.0), 1)
    steps = int(round(t_stop / DT))
    pre_c = np.zeros((steps, 1))
    pre_c[np.round(times / DT).astype(int) - 1, 0] = 1
    _, sent = run_dynamics(StochasticStpSynapse(U, tau_rec, tau_fac, n_conn),
                           np.ones(n_conn), pre_c, np.zeros((steps, 1)), np.zeros(n_conn),
                           np.zeros(n_conn))
    ours = sent[pre_c[:, 0] > 0].mean(axis=1)
    ref = _stochastic_stp_reference(U, tau_rec, tau_fac, times, 20000,
                                    np.random.default_rng(0))
    assert ours[0] == pytest.approx(U, abs=4 * np.sqrt(U * (1 - U) / n_conn))
    assert np.abs(ours - ref).max() < 5 * np.sqrt(0.25 / n_conn)
    assert ours[5:].mean() < 0.8 * ours[0]                  # depression


def test_bad_parameters_name_the_parameter():
    with pytest.raises(ValueError, match="tau_rec"):
        TsodyksSynapse(0.5, -1.0, 0.0)
    with pytest.raises(ValueError, match="U"):
        TsodyksSynapse(1.5, 100.0, 0.0)
    with pytest.raises(ValueError, match="A_plus"):
        StdpSynapse([1], DT, A_plus=-0.1)
    with pytest.raises(ValueError, match="w_min"):
        StdpSynapse([1], DT, w_min=2.0, w_max=1.0)
    with pytest.raises(ValueError, match="p"):
        BernoulliSynapse(1.2)
    with pytest.raises(ValueError, match="n"):
        QuantalStpSynapse(n_sites=0.5)
