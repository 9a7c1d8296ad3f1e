"""The size of XLA's CPU thread pool, chosen when JAX starts its backends.

XLA runs a compiled program's operations on a pool with one thread per CPU that the process may
use (its affinity mask when the CPU backend starts); JAX has no option for the size. A network
step is a few dozen small operations (1–5 µs each at 4000 neurons), and with two pool threads
they are handed from thread to thread, each time to a core whose caches hold none of the
step's data: on the 2-core development machine a GLIF network step took ~45 % longer and a
GLIF5 neuron update ~30 % longer than with one pool thread (docs/performance.md, "CPU thread
pool").

:func:`use_cpu_threads` (called by ``setup``; ``pynn_brainpy.use_cpu_threads`` for the
models without PyNN) therefore starts the backends with the calling thread's affinity cut to
``threads`` CPUs, then gives that thread and every thread created meanwhile (the pool's) the
original mask back: the pool keeps its size, its threads may run on any allowed CPU.
"""

import os
from typing import Optional

__all__ = ["use_cpu_threads"]

_pool_size: Optional[int] = None     # what use_cpu_threads gave the pool, once it did


def _threads() -> set:
    try:
        return set(os.listdir("/proc/self/task"))
    except OSError:
        return set()


def use_cpu_threads(threads: int) -> Optional[int]:
    """Start JAX's backends with at most ``threads`` threads in XLA's CPU pool.

    Returns the pool size in force, or None where it is unknown: JAX had started its backends
    before this module did (the pool keeps the size it was given then), or the platform has
    no CPU affinity (not Linux).
    """
    global _pool_size
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"cpu_threads must be an integer >= 1, got {threads!r}.")
    from jax._src import xla_bridge
    if xla_bridge.backends_are_initialized() or not hasattr(os, "sched_setaffinity"):
        return _pool_size
    import jax
    allowed = sorted(os.sched_getaffinity(0))
    if threads >= len(allowed):
        jax.devices()
        _pool_size = len(allowed)
        return _pool_size
    before = _threads()
    os.sched_setaffinity(0, allowed[:threads])
    try:
        jax.devices()
    finally:
        os.sched_setaffinity(0, allowed)
        for tid in _threads() - before:
            try:
                os.sched_setaffinity(int(tid), allowed)
            except OSError:           # a thread that ended meanwhile
                pass
    _pool_size = threads
    return threads
