"""pynn_brainpy: a PyNN simulator backend on JAX/brainstate, centred on NEST's glif_cond."""

__version__ = "0.1.0"
