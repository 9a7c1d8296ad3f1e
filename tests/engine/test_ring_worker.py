"""The ring worker (a second core adding a step's events while the next step runs) against
the synchronous delivery."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.engine import _ring_worker, event_product

pytestmark = pytest.mark.skipif(not event_product.worker_available(np.float64),
                                reason="no ring worker on this platform")

N_PRE, WIDTH, SLOTS, STEPS = 300, 50, 7, 400
MIDDLE = WIDTH // 2 - 7                 # a split column


def _network(dtype, shortest=2, split=MIDDLE):
    """A CSR matrix with delays of ``shortest``..6 steps (in each row the entries aimed at
    columns below ``split`` first, each part in increasing positions, some repeated), and
    spike counts (0, 1, rarely 2) per step."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, N_PRE)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    positions = (rng.integers(shortest, SLOTS, indptr[-1]) * WIDTH
                 + rng.integers(0, WIDTH // 2, indptr[-1]) * 2).astype(np.int32)
    rows = np.repeat(np.arange(N_PRE), lengths)
    positions = positions[np.lexsort((positions, positions % WIDTH >= split, rows))]
    weights = rng.normal(0.0, 1.0, indptr[-1]).astype(dtype)
    counts = rng.choice([0.0, 1.0, 2.0], (STEPS, N_PRE), p=[0.95, 0.045, 0.005]).astype(dtype)
    return counts, weights, positions, indptr


def _run(dtype, worker, steps=STEPS, shortest=2, split=MIDDLE):
    counts, weights, positions, indptr = _network(dtype, shortest, split)

    @jax.jit
    def run(counts, weights, positions):
        def body(carry, counts_m):
            ring, m = carry
            ring, arriving = event_product.deliver_into_ring(
                counts_m, weights, positions, indptr, m, ring, SLOTS, worker=worker)
            return (ring, m + 1), arriving
        (ring, _), arrivals = jax.lax.scan(
            body, (jnp.zeros(SLOTS * WIDTH, dtype), jnp.asarray(0, jnp.int32)),
            counts[:steps])
        if worker:
            ring = event_product.join_ring(ring)
        return ring, arrivals

    ring, arrivals = run(jnp.asarray(counts), jnp.asarray(weights), jnp.asarray(positions))
    _ring_worker.check()
    return np.asarray(ring), np.asarray(arrivals)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_the_worker_delivers_what_the_synchronous_handler_delivers(dtype, depth):
    """With ``depth`` batches in flight (delays of at least depth + 1 steps) the ring and
    every row taken out are those of the synchronous handler, bit for bit."""
    import brainstate
    brainstate.environ.set(precision=64 if dtype == np.float64 else 32)
    _ring_worker.reserve(N_PRE, depth, MIDDLE)
    ring, arrivals = _run(dtype, False, shortest=depth + 1)
    assert np.count_nonzero(arrivals) > 1000             # the ring was used
    for _ in range(3):
        before = sum(_ring_worker.batches())
        ring_w, arrivals_w = _run(dtype, True, shortest=depth + 1)
        np.testing.assert_array_equal(arrivals_w, arrivals)
        np.testing.assert_array_equal(ring_w, ring)
        # each part of each batch added once
        assert sum(_ring_worker.batches()) == before + _ring_worker.PARTS * STEPS
    _ring_worker.reserve(N_PRE, 1)


def test_each_native_helper_of_the_delivery_compiles_once_per_argument_types():
    """numba compiles a dispatcher once per literal value of an argument (a constant at the
    call): the helpers called with constants are overloads, typed with int64 once. Compiled
    afresh (not loaded from numba's cache), the handlers and the worker leave no dispatcher of
    their modules with two signatures that differ only in literals."""
    import numba
    from numba import types
    from numba.core.registry import CPUDispatcher
    from pynn_brainpy.engine import _event_handler, native
    frame_handler = types.voidptr(types.voidptr)
    for handler in (_ring_worker.handler_f32, _ring_worker.handler_f64,
                    _ring_worker.join_handler, _event_handler._ring_handler):
        native.compile_cfunc(handler, frame_handler, cache=False)
    numba.njit(nogil=True)(_ring_worker._serve.py_func).compile((types.int64,))
    for module in (native, _event_handler, _ring_worker):
        for name, function in vars(module).items():
            if isinstance(function, CPUDispatcher):
                plain = [tuple(types.unliteral(t) for t in signature)
                         for signature in function.signatures]
                assert len(plain) == len(set(plain)), (name, function.signatures)


@pytest.mark.parametrize("depth", [1, 3])
def test_without_a_worker_thread_the_batches_are_claimed_back(depth):
    """Each handler call adds the batch whose slot it needs, the chunk's last call the rest
    (in order: the same ring)."""
    import brainstate
    brainstate.environ.set(precision=64)
    _ring_worker.reserve(N_PRE, depth, MIDDLE)
    _ring_worker._WORKER.stop()
    try:
        ring, arrivals = _run(np.float64, False, shortest=depth + 1)
        by_worker, by_caller = _ring_worker.batches()
        ring_w, arrivals_w = _run(np.float64, True,
                                  shortest=depth + 1)
        assert _ring_worker.batches() == (by_worker, by_caller + _ring_worker.PARTS * STEPS)
    finally:
        _ring_worker.reserve(N_PRE, 1)                  # starts the worker again
    np.testing.assert_array_equal(arrivals_w, arrivals)
    np.testing.assert_array_equal(ring_w, ring)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_any_split_column_delivers_what_the_synchronous_handler_delivers(dtype):
    """The parts (columns below / from the split) may go to different threads: wherever the
    split lies (before every column, among them, after all), the ring is the synchronous
    handler's (on the same matrix), bit for bit."""
    import brainstate
    brainstate.environ.set(precision=64 if dtype == np.float64 else 32)
    for split in (0, 1, WIDTH // 3, WIDTH - 1, WIDTH):
        _ring_worker.reserve(N_PRE, 2, split)
        ring, arrivals = _run(dtype, False, shortest=3, split=split)
        ring_w, arrivals_w = _run(dtype, True, shortest=3, split=split)
        np.testing.assert_array_equal(arrivals_w, arrivals)
        np.testing.assert_array_equal(ring_w, ring)
    _ring_worker.reserve(N_PRE, 1)


def test_the_depth_is_checked():
    for depth in (0, _ring_worker.MAX_DEPTH + 1):
        with pytest.raises(ValueError, match="depth must be in"):
            _ring_worker.reserve(N_PRE, depth)


def test_a_batch_without_room_in_the_spike_list_is_an_error():
    import brainstate
    brainstate.environ.set(precision=64)
    _ring_worker.reserve(N_PRE)
    saved = int(_ring_worker._WORKER.control[_ring_worker.CAPACITY])
    _ring_worker._WORKER.control[_ring_worker.CAPACITY] = N_PRE - 1
    try:
        with pytest.raises(RuntimeError, match="ring"):
            _run(np.float64, True, steps=5)
    finally:
        _ring_worker._WORKER.control[_ring_worker.CAPACITY] = saved


def _pynn_network(sim, delay, plastic=False, precision="float64"):
    from pynn_brainpy import simulator
    sim.setup(timestep=0.1, min_delay=0.1, precision=precision, progress_bar=False,
              rng_seed=3)
    rng = sim.NumpyRNG(seed=5)
    cells = sim.Population(200, sim.IF_cond_exp(tau_refrac=2.0))
    drive = sim.Population(50, sim.SpikeSourcePoisson(rate=400.0))
    sim.Projection(drive, cells, sim.FixedNumberPreConnector(10, rng=rng),
                   sim.StaticSynapse(weight=0.004, delay=delay))
    synapse = (sim.STDPMechanism(timing_dependence=sim.SpikePairRule(),
                                 weight_dependence=sim.AdditiveWeightDependence(),
                                 weight=0.002, delay=delay) if plastic
               else sim.StaticSynapse(weight=0.002, delay=sim.RandomDistribution(
                   "uniform", (delay, delay + 2.0), rng=rng)))
    sim.Projection(cells, cells, sim.FixedProbabilityConnector(0.1, rng=rng), synapse,
                   receptor_type="excitatory")
    cells.record("spikes")
    sim.run(300.0)
    spikes = [np.asarray(st) for st in cells.get_data().segments[0].spiketrains]
    uses_worker = simulator.state.network._ring_worker
    sim.end()
    return spikes, uses_worker


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_a_network_spikes_the_same_with_and_without_the_worker(monkeypatch, precision):
    import pynn_brainpy as sim
    with_worker, used = _pynn_network(sim, 0.5, precision=precision)
    assert used
    monkeypatch.setattr(_ring_worker, "ENABLED", False)
    without, used = _pynn_network(sim, 0.5, precision=precision)
    assert not used
    assert sum(len(s) for s in without) > 200
    for a, b in zip(with_worker, without):
        np.testing.assert_array_equal(a, b)


def test_the_worker_needs_delays_of_two_steps_and_static_synapses_only():
    import pynn_brainpy as sim
    assert not _pynn_network(sim, 0.1)[1]               # one step: the next step needs it
    assert _pynn_network(sim, 0.2)[1]
    assert not _pynn_network(sim, 0.5, plastic=True)[1]


@pytest.mark.parametrize("delay,depth", [(0.2, 1), (0.4, 3), (0.5, 4), (2.0, 4)])
def test_a_network_lets_its_shortest_delay_minus_one_batches_be_in_flight(delay, depth):
    from pynn_brainpy.engine import network as engine
    from pynn_brainpy.models.glif_cond import glif_cond
    import brainstate
    with brainstate.environ.context(dt=0.1, precision=64):
        groups = [engine.SpikeArrayGroup(2, [np.array([3]), np.array([5])]),
                  engine.NeuronGroup(glif_cond(3), 3)]
        steps = int(round(delay / 0.1))
        syn = engine.Synapses(0, 1, "receptor_0", np.array([0, 1, 1]), np.array([0, 1, 2]),
                              np.ones(3), np.array([steps, steps + 3, steps + 1]))
        net = engine.Network(groups, [syn], [], dt=0.1)
        assert net._ring_worker and net._ring_depth == depth


def test_a_loop_in_halves_learns_where_to_split():
    """A loop whose second half is slower to run: its caller waits for the worker's half and
    takes a larger share the next time, until the halves take about as long; the share
    stays within its bounds and every element is run once per call."""
    import numba
    from numba import types

    from pynn_brainpy.engine import native

    n, align = 2048, 64

    def half(address):                     # element i costs 1 unit below n/2, 4 from n/2
        task = native.words(address, 4)
        total = 0.0
        for i in range(task[1], task[2]):
            for _ in range(200 if i >= n // 2 else 50):
                total = total * 0.999 + 1.0
        task[3] = (task[2] - task[1]) + (1 if total < 0 else 0)   # elements run (total kept)

    address = native.compile_cfunc(half, types.void(types.int64), cache=False).address

    @numba.njit
    def calls(ctl, share_address, times):
        counted = 0
        for _ in range(times):
            middle = _ring_worker.split_at(n, share_address, align)
            counted += _ring_worker.loop_in_halves(ctl, address, 0, n, middle, share_address)
        return counted

    share = np.full(1, _ring_worker.SHARE_UNIT // 2, np.int64)
    _ring_worker.start()
    worker_before = _ring_worker.halves()[0]
    assert calls(_ring_worker.control_address(), share.ctypes.data, 400) == 400 * n
    taken = _ring_worker.halves()[0] - worker_before
    assert _ring_worker.SHARE_LEAST <= share[0] <= _ring_worker.SHARE_UNIT - \
        _ring_worker.SHARE_LEAST
    if taken >= 50:                        # the worker ran halves (not asleep throughout)
        assert share[0] > _ring_worker.SHARE_UNIT // 2 + 8 * _ring_worker.SHARE_STEP
    assert _ring_worker.split_at(n, share.ctypes.data, align) % align == 0
