"""``sim.NativeRNG``: the backend's "native" random numbers.

Connectivity, synaptic parameters and initial values are drawn on the host before the network
is compiled, with NumPy; so the native generator of this backend is a ``NumpyRNG`` (same
draws for the same seed). Randomness inside the simulation (Poisson and gamma sources, noisy
currents, stochastic synapses) comes from counter-based JAX keys derived from
``setup(rng_seed=...)`` instead.
"""

from pyNN.random import NumpyRNG

__all__ = ["NativeRNG"]


class NativeRNG(NumpyRNG):
    """The backend's native generator: NumPy's, seeded like ``NumpyRNG``."""
