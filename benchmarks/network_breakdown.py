#!/usr/bin/env python
"""Where a network step's time goes: the same network built up part by part.

Each row is a separate pynn_brainpy network (float64 unless ``--float32``, dt 0.1 ms); after a
first run that compiles, the best of two runs of 4096 steps gives µs per step. Parts: 4000
GLIF5 neurons (the network of benchmarks/glif_network.py without its connections), the Poisson
drive (1000 SpikeSourcePoisson cells at 20 Hz, 100 inputs per neuron), 500 recurrent inputs per
neuron with one delay or with delays uniform in [1, 3] ms (21 distinct delays), recording every
spike; and COBA's 4000 IF_cond_exp neurons alone and in the full network of benchmarks/coba.py.

    python benchmarks/network_breakdown.py
    python benchmarks/network_breakdown.py 4000     # only the rows whose label has '4000'
    python benchmarks/network_breakdown.py --float32 4000

The first two rows are the network of benchmarks/glif_network.py (N = 4000, with and without
recording every spike). ``PYNN_BRAINPY_NATIVE=0`` in the environment runs glif_cond's XLA step
instead of its native quiet step (docs/glif_cond.md).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coba  # noqa: E402
import glif_network as benchmark  # noqa: E402
import pynn_brainpy as sim  # noqa: E402

STEPS_MS = 409.6          # 4096 steps: one chunk


def glif_network(drive=False, recurrent=None, record=False):
    celltype = sim.GLIF_cond.variant(5, tau_syn=[2.0, 5.0], e_rev=[0.0, -80.0])
    cells = sim.Population(4000, celltype)
    rng = sim.NumpyRNG(seed=1)
    if drive:
        ext = sim.Population(1000, sim.SpikeSourcePoisson(rate=20.0))
        sim.Projection(ext, cells, sim.FixedNumberPreConnector(100, rng=rng),
                       sim.StaticSynapse(weight=0.0007, delay=1.0))
    if recurrent is not None:
        delay = 1.0 if recurrent == "one" else sim.RandomDistribution("uniform", (1.0, 3.0),
                                                                      rng=rng)
        sim.Projection(cells, cells, sim.FixedNumberPreConnector(500, rng=rng),
                       sim.StaticSynapse(weight=0.0001, delay=delay))
    if record:
        cells.record("spikes")


def coba_neurons():
    cells = sim.Population(4000, sim.IF_cond_exp(**coba.CELL))
    cells.initialize(v=sim.RandomDistribution("uniform", (-60.0, -50.0),
                                              rng=sim.NumpyRNG(1)))


ROWS = [
    ("glif_network.py network (4000)", lambda: benchmark.build_brainpy(sim, 4000)),
    ("  the same (4000), no recording",
     lambda: benchmark.build_brainpy(sim, 4000, record=False)),
    ("GLIF5 x 4000, no input", lambda: glif_network()),
    ("+ Poisson drive", lambda: glif_network(drive=True)),
    ("+ 500 recurrent inputs, one delay", lambda: glif_network(True, "one")),
    ("+ 500 recurrent inputs, 21 delays", lambda: glif_network(True, "uniform")),
    ("+ recording every spike", lambda: glif_network(True, "uniform", record=True)),
    ("COBA: 4000 IF_cond_exp alone", coba_neurons),
    ("COBA: full network", lambda: coba.build(sim)),
]


def main():
    args = sys.argv[1:]
    precision = "float32" if "--float32" in args else "float64"
    labels = [a for a in args if a != "--float32"]
    only = labels[0] if labels else ""
    print(f"{'network (' + precision + ')':40s} {'µs per step':>12s}")
    for label, build in ROWS:
        if only not in label:
            continue
        sim.setup(timestep=0.1, min_delay=0.1, precision=precision, progress_bar=False)
        build()
        sim.run(STEPS_MS)
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            sim.run(STEPS_MS)
            best = min(best, time.perf_counter() - t0)
        sim.end()
        print(f"{label:40s} {best / 4096 * 1e6:12.1f}")


if __name__ == "__main__":
    main()
