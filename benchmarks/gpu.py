#!/usr/bin/env python
"""Every GPU measurement of issue 5 in one run, one table (with the card's name).

1. GLIF5 population, float32, N = 1e4 ... 1e6: ns per neuron-step of the model alone (constant
   currents of 150..400 pA, as benchmarks/neuron_update.py).
2. The GLIF network of benchmarks/glif_network.py at N = 1e5 with 500 synapses per neuron,
   float32, through the PyNN API: build + compile, simulate, real-time factor.
3. Fixed cost per step of a small network (the same network with 100 neurons, 8 + 2
   recurrent and 100 Poisson inputs each):
   µs per step.
4. Recording: the 1e5 network recording every spike vs recording nothing (overhead %).

Targets (issue 5): (1) <= 0.15 ns at 1e6; (2) real-time factor <= 1; (3) <= 30 µs;
(4) <= 20 %. Runs in well under 8 minutes on an H100; ``--quick`` shrinks everything for a
smoke run on a CPU.

    python benchmarks/gpu.py [--quick] [--json out.json]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def device_name():
    import jax
    d = jax.devices()[0]
    return f"{d.platform}: {getattr(d, 'device_kind', str(d))}"


def population_ns(n, steps):
    """ns per neuron-step of glif_cond GLIF5 alone, float32."""
    import brainstate
    import jax
    import jax.numpy as jnp
    from pynn_brainpy.models.glif_cond import glif_cond
    with brainstate.environ.context(dt=0.1, precision=32):
        model = glif_cond(n, spike_dependent_threshold=True, after_spike_currents=True,
                          adapting_threshold=True)
        model.init_state()
        current = jnp.asarray(np.linspace(150.0, 400.0, n), jnp.float32)

        @brainstate.transform.jit
        def run():
            return brainstate.transform.for_loop(
                lambda i: jnp.sum(model.update(current) > 0), jnp.arange(steps))
        jax.block_until_ready(run())
        best = np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            jax.block_until_ready(run())
            best = min(best, time.perf_counter() - t0)
    return best / (n * steps) * 1e9


def network(n, k_exc, k_inh, t_stop, record):
    """Build + compile and simulate time of the GLIF E/I network (float32)."""
    import pynn_brainpy as sim
    import glif_network as g
    sim.setup(timestep=g.DT, precision="float32", rng_seed=1, progress_bar=False)
    rng = sim.NumpyRNG(seed=42)
    n_exc = int(0.8 * n)
    celltype = sim.GLIF_cond.variant(5, **g.CELL)
    exc = sim.Population(n_exc, celltype)
    inh = sim.Population(n - n_exc, celltype)
    ext = sim.Population(g.N_EXT, sim.SpikeSourcePoisson(rate=g.RATE_EXT))
    delay = sim.RandomDistribution("uniform", g.DELAY, rng=rng)
    scale = g.K_EXC / max(k_exc, 1)
    t0 = time.perf_counter()
    for target in (exc, inh):
        sim.Projection(ext, target, sim.FixedNumberPreConnector(g.K_EXT, rng=rng),
                       sim.StaticSynapse(weight=g.W_EXT, delay=1.0), receptor_type="receptor_0")
        sim.Projection(exc, target, sim.FixedNumberPreConnector(k_exc, rng=rng),
                       sim.StaticSynapse(weight=g.W_EXC * scale, delay=delay),
                       receptor_type="receptor_0")
        sim.Projection(inh, target, sim.FixedNumberPreConnector(k_inh, rng=rng),
                       sim.StaticSynapse(weight=g.W_INH * scale, delay=delay),
                       receptor_type="receptor_1")
    if record:
        exc.record("spikes")
        inh.record("spikes")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(t_stop)
    first = time.perf_counter() - t0
    sim.reset()
    t0 = time.perf_counter()
    sim.run(t_stop)
    simulate = time.perf_counter() - t0
    sim.end()
    return dict(build_compile_s=build + first - simulate, simulate_s=simulate,
                rtf=simulate / (t_stop / 1000.0), us_per_step=simulate / (t_stop / 0.1) * 1e6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CPU smoke run)")
    parser.add_argument("--json")
    args = parser.parse_args()
    sizes = [1000, 4000] if args.quick else [10_000, 100_000, 1_000_000]
    big_n, t_big = (2000, 50.0) if args.quick else (100_000, 1000.0)
    rows, results = [], {"device": device_name()}

    for n in sizes:
        ns = population_ns(n, 200 if args.quick else 2000)
        results[f"glif5_ns_{n}"] = ns
        rows.append((f"GLIF5 population, N = {n:.0e}, float32", f"{ns:.3f} ns/neuron-step",
                     "<= 0.15 ns at 1e6" if n == sizes[-1] else ""))
    rec = network(big_n, 400, 100, t_big, record=True)
    norec = network(big_n, 400, 100, t_big, record=False)
    small = network(100, 8, 2, 100.0 if args.quick else 1000.0, record=False)
    results.update(network_recording=rec, network_no_recording=norec, small_network=small)
    rows += [
        (f"GLIF network N = {big_n:.0e} x 500 syn, build + compile", f"{rec['build_compile_s']:.1f} s",
         ""),
        (f"GLIF network N = {big_n:.0e} x 500 syn, real-time factor", f"{rec['rtf']:.2f}", "<= 1"),
        ("small network (100 neurons), cost per step", f"{small['us_per_step']:.1f} µs", "<= 30 µs"),
        ("recording every spike vs nothing", f"{100 * (rec['simulate_s'] / norec['simulate_s'] - 1):+.0f} %",
         "<= 20 %"),
    ]
    print(f"pynn_brainpy GPU benchmarks on {results['device']}")
    width = max(len(r[0]) for r in rows)
    for what, value, target in rows:
        print(f"{what:{width}s}  {value:>20s}  {target}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
