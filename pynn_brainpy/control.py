"""setup / run / reset / end and the state queries (PyNN's control API)."""

import os
import warnings

from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from . import simulator
from ._cpu_pool import use_cpu_threads

__all__ = ["setup", "end", "run", "run_until", "run_for", "reset", "initialize",
           "get_current_time", "get_time_step", "get_min_delay", "get_max_delay",
           "num_processes", "rank"]


def setup(timestep=DEFAULT_TIMESTEP, min_delay=DEFAULT_MIN_DELAY, max_delay=DEFAULT_MAX_DELAY,
          precision="float64", rng_seed=0, progress_bar=None, compilation_cache=True,
          **extra_params):
    """Start a new simulation; any existing network is discarded.

    ``timestep``, ``min_delay`` and ``max_delay`` are in ms (``'auto'``: one time step and
    10 ms). ``precision`` is ``'float64'`` (NEST-exact) or ``'float32'`` (faster, mainly on
    GPU). ``rng_seed`` seeds the in-simulation randomness (Poisson sources, noisy currents).
    ``progress_bar``: True/False, or None to show one for long runs only.
    ``compilation_cache``: keep compiled networks on disk (JAX's persistent cache) so that
    running the same script again skips most of the compilation; True uses
    ``$PYNN_BRAINPY_CACHE`` or ``~/.cache/pynn_brainpy/jax``, a string names the directory,
    False turns it off. ``spike_precision``: ``'on_grid'`` (default) or ``'off_grid'``:
    spike times inside the step for the cell types and sources that have NEST's precise
    version (IF_curr_exp, IF_curr_delta, SpikeSourceArray, SpikeSourcePoisson), as pyNN.nest does
    (docs/pynn.md). ``cpu_threads`` (default 1): threads in XLA's CPU pool, fixed when JAX
    starts its backends, so effective at the first ``setup`` of a process that has run no
    JAX computation yet; one thread is the fastest on small machines (docs/performance.md).
    ``merge_populations`` (default True): neuron populations of one model that differ only
    in per-cell values are simulated as one group (faster; the same numbers), False gives
    each its own (:mod:`pynn_brainpy.engine_groups`).
    PyNN's other keywords are accepted and ignored (pyNN.nest's ``threads`` among them).
    """
    common.setup(timestep, min_delay, max_delay=max_delay, **extra_params)
    if timestep <= 0:
        raise ValueError(f"timestep must be > 0 ms, got {timestep}.")
    cpu_threads = extra_params.get("cpu_threads", 1)
    pool = use_cpu_threads(cpu_threads)
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if "cpu_threads" in extra_params and pool != min(cpu_threads, allowed or cpu_threads):
        warnings.warn(f"setup(cpu_threads={cpu_threads}): XLA's CPU pool keeps "
                      f"{'its size' if pool is None else f'{pool} threads'}; it is chosen "
                      "once, when JAX starts its backends (before this setup).")
    state = simulator.state
    simulator.use_compilation_cache(compilation_cache)
    state.configure(timestep, min_delay, 10.0 if max_delay == "auto" else max_delay,
                    precision, rng_seed, progress_bar,
                    extra_params.get("spike_precision", "on_grid"),
                    extra_params.get("merge_populations", True))
    state.clear()
    return rank()


def end(compatible_output=True):
    """Write the data requested with ``record(..., to_file)`` and finish."""
    state = simulator.state
    for population, variables, filename in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
(get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes,
 rank) = common.build_state_queries(simulator)
