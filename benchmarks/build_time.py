#!/usr/bin/env python
"""Time to build the GLIF network of ``glif_network.py`` before any compilation.

Two parts: the PyNN script's populations and projections (connection sampling, parameter
translation), and the engine's network (the CSR matrix of all static connections, ring
buffers), which ``sim.run`` builds first. Compilation is not included (``glif_network.py``
and ``gpu.py`` report build + compile).

    python benchmarks/build_time.py --n 100000
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e5, help="neurons (default 1e5)")
    args = parser.parse_args()
    import glif_network as g
    import pynn_brainpy as sim
    from pynn_brainpy import simulator
    n = int(args.n)
    sim.setup(timestep=g.DT, precision="float32", rng_seed=1, progress_bar=False)
    t0 = time.perf_counter()
    _, _, prjs = g.build_brainpy(sim, n)
    t1 = time.perf_counter()
    simulator.state._build()
    t2 = time.perf_counter()
    synapses = sum(len(p) for p, _, _ in prjs)
    print(f"GLIF network N = {n}, {synapses} synapses: PyNN build {t1 - t0:.1f} s, "
          f"engine network build {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
