"""Neuron populations of one model simulated as one engine group (pynn_brainpy.engine_groups):
which populations share a group, and that sharing changes no number."""

import numpy as np
import pytest
from pyNN.parameters import Sequence

import pynn_brainpy as sim

DT = 0.1
GLIF5 = dict(tau_syn=[2.0, 5.0], e_rev=[0.0, -80.0])


def _groups():
    return sim.simulator.state.network.groups


def _mixed_network(merge):
    """Two GLIF5 populations with different parameters, a GLIF1 population (other model
    settings), an IF_cond_exp pair coupled by plastic synapses, Poisson and array sources;
    connections between views and assemblies, a current into part of one population, initial
    values for some cells only. Records everything that reaches the engine by cell."""
    sim.setup(timestep=DT, rng_seed=3, merge_populations=merge)
    rng = sim.NumpyRNG(seed=7)
    exc = sim.Population(30, sim.GLIF_cond.variant(5, **GLIF5), label="exc")
    inh = sim.Population(10, sim.GLIF_cond.variant(5, tau_m=15.0, **GLIF5), label="inh")
    glif1 = sim.Population(5, sim.GLIF_cond.variant(1, **GLIF5), label="glif1")
    cond_a = sim.Population(6, sim.IF_cond_exp(tau_m=12.0), label="cond_a")
    cond_b = sim.Population(4, sim.IF_cond_exp(cm=0.5, tau_syn_E=[1.0, 2.0, 3.0, 4.0]),
                            label="cond_b")
    noise = sim.Population(20, sim.SpikeSourcePoisson(rate=400.0), label="noise")
    kick = sim.Population(2, sim.SpikeSourceArray(spike_times=[Sequence([5.0, 9.0]),
                                                                  Sequence([12.0])]))
    exc[::2].initialize(v=sim.RandomDistribution("uniform", (-70.0, -55.0), rng=rng))
    inh.initialize(v=-60.0)
    cond_b.initialize(v=-58.0)
    for target in (exc, inh, glif1):
        sim.Projection(noise, target, sim.FixedProbabilityConnector(0.5, rng=rng),
                       sim.StaticSynapse(weight=0.004, delay=1.0), receptor_type="receptor_0")
    sim.Projection(exc, sim.Assembly(inh, glif1, exc[10:20]),
                   sim.FixedProbabilityConnector(0.3, rng=rng),
                   sim.StaticSynapse(weight=0.003, delay=sim.RandomDistribution(
                       "uniform", (0.5, 2.0), rng=rng)), receptor_type="receptor_0")
    sim.Projection(inh[2:8], exc, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=0.002, delay=0.7), receptor_type="receptor_1")
    sim.Projection(kick, cond_a, sim.AllToAllConnector(),
                   sim.StaticSynapse(weight=0.05, delay=0.3), receptor_type="excitatory")
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0,
                                            A_plus=0.01, A_minus=0.012),
        weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=0.1),
        weight=0.02, delay=1.0)
    plastic = sim.Projection(sim.Assembly(cond_a, noise[:5]), cond_b,
                             sim.AllToAllConnector(), stdp, receptor_type="excitatory")
    # a synapse type that reads its targets' parameters (tau_psc = the cell's tau_syn_E)
    sim.Projection(kick, cond_b, sim.AllToAllConnector(),
                   sim.TsodyksMarkramSynapse(U=0.5, tau_rec=50.0, weight=0.04, delay=0.5),
                   receptor_type="excitatory")
    sim.DCSource(amplitude=0.3, start=2.0, stop=60.0).inject_into(exc[5:15])
    sim.DCSource(amplitude=0.6, start=0.0, stop=80.0).inject_into(sim.Assembly(cond_a, cond_b))
    recorded = (exc, inh, glif1, cond_a, cond_b)
    for p in recorded:
        p.record(["spikes", "v"])
    inh[3:7].record("gsyn_exc")
    noise.record("spikes")
    return recorded + (noise,), plastic


def _data(populations, plastic):
    out = []
    for p in populations:
        seg = p.get_data().segments[-1]
        out.append([np.asarray(st.times) for st in seg.spiketrains])
        out.append([np.asarray(sig) for sig in seg.analogsignals])
    if plastic is not None:
        out.append(np.asarray(plastic.get("weight", format="array")))
    return out


def _runs(merge):
    """Run, change a parameter, run on; reset and run again. The data of both segments
    and the engine's group count."""
    populations, plastic = _mixed_network(merge)
    sim.run(40.0)
    populations[1].set(tau_m=12.0)
    populations[0][:4].initialize(v=-52.0)          # applied to the running model
    sim.run(40.0)
    first = _data(populations, plastic)
    n_groups = len(_groups())
    sim.reset()
    sim.run(80.0)
    return first, _data(populations, plastic), n_groups


def _assert_same(a, b, path="data"):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        np.testing.assert_array_equal(a, b, err_msg=path)


def test_sharing_groups_changes_no_number():
    """Bit for bit in float64. (Not in float32: there a neuron's roundings depend on its
    group's size even without sharing, see engine_groups' docstring.)"""
    merged = _runs(True)
    separate = _runs(False)
    # exc + inh share a group, cond_a + cond_b another; glif1 (another GLIF variant) and
    # the two sources keep theirs
    assert (merged[2], separate[2]) == (5, 7)
    _assert_same(merged[:2], separate[:2])
    spikes = sum(len(t) for t in merged[0][0]) + sum(len(t) for t in merged[0][2])
    assert spikes > 0                   # the GLIF cells fire: the comparison has content


def test_which_populations_share_a_group():
    sim.setup(timestep=DT)
    a = sim.Population(3, sim.IF_curr_exp(tau_m=10.0))
    s = sim.Population(2, sim.SpikeSourcePoisson(rate=5.0))
    b = sim.Population(4, sim.IF_curr_exp(tau_m=[5.0, 6.0, 7.0, 8.0]))
    c = sim.Population(2, sim.IF_curr_alpha())
    d = sim.Population(2, sim.GLIF_cond.variant(3, tau_syn=[2.0], e_rev=[0.0]))
    e = sim.Population(2, sim.GLIF_cond.variant(3, **GLIF5))          # two ports, not one
    f = sim.Population(2, sim.GLIF_cond.variant(3, tau_syn=[3.0], e_rev=[-70.0]))
    sim.run(1.0)
    assert len(_groups()) == 5
    assert [(p._engine_index, p._engine_offset) for p in (a, s, b, c, d, e, f)] == [
        (0, 0), (1, 0), (0, 3), (2, 0), (3, 0), (4, 0), (3, 2)]
    assert _groups()[0].size == 7 and _groups()[3].size == 4
    # the sources' random streams are numbered by their populations, as without sharing
    assert sim.simulator.state.network.streams == [0, 1, 3, 4, 5]


def test_parameters_of_a_shared_group_stay_per_population():
    sim.setup(timestep=DT)
    a = sim.Population(2, sim.IF_curr_exp(i_offset=1.0, tau_m=10.0))
    b = sim.Population(3, sim.IF_curr_exp(i_offset=0.0, tau_m=20.0))
    for p in (a, b):
        p.record("v")
    sim.run(5.0)
    b.set(i_offset=2.0)
    a.initialize(v=-50.0)
    sim.run(5.0)
    va = np.asarray(a.get_data().segments[0].analogsignals[0])
    vb = np.asarray(b.get_data().segments[0].analogsignals[0])
    assert np.all(va[1:50] > va[0]) and np.all(vb[:51] == -65.0)   # b had no current
    assert np.all(va[51] > -50.5) and np.all(vb[60] > vb[51])       # then b got one
    assert a.get("tau_m") == 10.0 and b.get("tau_m") == 20.0


def test_merge_populations_must_be_a_bool():
    with pytest.raises(ValueError, match="merge_populations"):
        sim.setup(timestep=DT, merge_populations="yes")


def _off_grid(merge):
    """Precise models (spike times inside the step) sharing a group."""
    sim.setup(timestep=DT, rng_seed=5, spike_precision="off_grid", merge_populations=merge)
    a = sim.Population(5, sim.IF_curr_exp(tau_m=10.0, i_offset=0.5))
    b = sim.Population(4, sim.IF_curr_exp(tau_m=15.0, i_offset=0.6))
    source = sim.Population(10, sim.SpikeSourcePoisson(rate=300.0))
    sim.Projection(source, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.3, delay=0.5))
    sim.Projection(source, b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.2, delay=1.0))
    sim.Projection(a, b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=0.3))
    sim.Projection(b, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.5, delay=0.4),
                   receptor_type="inhibitory")
    return a, b


def _gap_junctions(merge):
    """Gap junctions within and between populations that share a group."""
    sim.setup(timestep=DT, merge_populations=merge)
    a = sim.Population(3, sim.IF_cond_exp(i_offset=1.0))
    b = sim.Population(3, sim.IF_cond_exp(tau_m=15.0))
    sim.Projection(a, b, sim.OneToOneConnector(), sim.ElectricalSynapse(weight=0.05))
    sim.Projection(b, b, sim.AllToAllConnector(allow_self_connections=False),
                   sim.ElectricalSynapse(weight=0.01))
    return a, b


@pytest.mark.parametrize("network", [_off_grid, _gap_junctions])
def test_sharing_groups_changes_no_number_off_grid_and_with_gap_junctions(network):
    results = []
    for merge in (True, False):
        populations = network(merge)
        for p in populations:
            p.record(["spikes", "v"])
        sim.run(60.0)
        results.append((len(_groups()), _data(populations, None)))
    assert results[0][0] == results[1][0] - 1        # the two populations share a group
    _assert_same(results[0][1], results[1][1])
    assert np.ptp(results[0][1][1][0]) > 1.0          # the cells' voltages move


def test_recorded_cells_in_a_run_a_scatter_and_the_whole_group_agree():
    """A probe reads a slice of its group where the recorded cells are one ascending run,
    else a gather: the same values either way."""
    traces = {}
    for name, cells in (("all", slice(None)), ("run", slice(4, 7)), ("scatter", [1, 4, 6])):
        sim.setup(timestep=DT)
        a = sim.Population(3, sim.IF_curr_exp(i_offset=0.5))
        b = sim.Population(8, sim.IF_curr_exp(i_offset=np.linspace(0.5, 2.0, 8)))
        b[cells].record(["spikes", "v"])
        sim.run(30.0)
        seg = b.get_data().segments[0]
        traces[name] = ({int(st.annotations["source_index"]): np.asarray(st)
                         for st in seg.spiketrains}, np.asarray(seg.analogsignals[0]))
        assert b._engine_offset == 3 and a._engine_index == b._engine_index
    spikes, v = traces["all"]
    for name, cells in (("run", [4, 5, 6]), ("scatter", [1, 4, 6])):
        np.testing.assert_array_equal(traces[name][1], v[:, cells])
        assert sorted(traces[name][0]) == cells
        for cell in cells:
            np.testing.assert_array_equal(traces[name][0][cell], spikes[cell])
    assert sum(t.size for t in spikes.values()) > 0


def test_the_populations_of_a_shared_group_record_into_shared_buffers():
    """Each recorded whole, neighbouring populations of a group fill one buffer per
    variable (one write per step); a scattered selection keeps a buffer of its own."""
    sim.setup(timestep=DT)
    a = sim.Population(3, sim.IF_curr_exp(i_offset=1.0))
    b = sim.Population(4, sim.IF_curr_exp(i_offset=2.0))
    c = sim.Population(5, sim.IF_curr_exp(i_offset=3.0))
    for p in (a, b):
        p.record(["spikes", "v"])
    c[[0, 2]].record("v")
    sim.run(60.0)
    network = sim.simulator.state.network
    assert len(network.probes) == 5
    assert [(r.probe.variable, r.probe.indices.tolist(), r.parts)
            for r in network._recordings] == [
        ("spikes", list(range(7)), [(0, 0, 3), (2, 3, 7)]),
        ("V_m", list(range(7)), [(1, 0, 3), (3, 3, 7)]),
        ("V_m", [7, 9], [(4, 0, 2)])]
    spikes = [len(p.get_data().segments[0].spiketrains[0]) for p in (a, b)]
    assert 0 < spikes[0] < spikes[1]                    # b's stronger current: more spikes
    v = np.asarray(c.get_data().segments[0].analogsignals[0])
    assert v.shape == (601, 2)
