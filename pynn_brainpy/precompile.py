"""Compile pynn_brainpy's native CPU code ahead of the first simulation::

    python -m pynn_brainpy.precompile

The first simulation after installing pynn_brainpy (or after an upgrade that changes its
native code) compiles, with numba, the handlers that add a step's synaptic events into the
ring buffer, the ring worker's thread, the connection sort and the spikes' scan (the items of
:mod:`pynn_brainpy.engine.warmup`, whose second process compiles them during a first run);
numba keeps the machine code on disk, so later processes load it. This does that compiling
once, for float32 and float64 (in a container's build, say), so that the first simulation only
compiles what depends on its network: the neuron loops generated for its models (while XLA
compiles the network) and the JAX program. Without the XLA FFI C API header in jaxlib there is
nothing to compile.
"""

import sys
import time

__all__ = ["precompile"]


def precompile() -> float:
    """Compile (or load) the native code every CPU network uses; the seconds it took."""
    from .engine import native, warmup
    t0 = time.perf_counter()
    if native.api_version() is None:
        return 0.0
    for item in warmup.items_used():
        warmup.wait_for(item)            # compiled by the second process, if one runs
        warmup.compile_item(item)        # else here; or loaded from numba's cache
    return time.perf_counter() - t0


def main() -> int:
    from .engine import native
    if native.api_version() is None:
        print("pynn_brainpy: nothing to compile (jaxlib has no XLA FFI C API header)")
        return 0
    print(f"pynn_brainpy: native code compiled or loaded in {precompile():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
