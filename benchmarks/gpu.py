#!/usr/bin/env python
"""Every GPU measurement of issue 5 in one run, one table (with the card's name).

1. GLIF5 population, float32, N = 1e4 ... 1e6: ns per neuron-step of the model alone (constant
   currents of 150..400 pA, as benchmarks/neuron_update.py), and, side by side when
   ``import brainpy.state`` works, ``brainpy.state.glif_cond`` on the same card and inputs.
2. The GLIF network of benchmarks/glif_network.py at N = 1e5 (400 + 100 recurrent and 100
   Poisson inputs per neuron), float32, through the PyNN API: build + compile, simulate,
   real-time factor.
3. Fixed cost per step of a small network (the same network with 100 neurons, 8 + 2
   recurrent inputs, weights scaled to the same total drive): µs per step.
4. Recording: the 1e5 network recording every spike vs recording nothing (overhead %).

Targets (issue 5): (1) <= 0.15 ns at 1e6; (2) real-time factor <= 1; (3) <= 30 µs;
(4) <= 20 %. Each measurement that fails prints its error and the table says so; the others
still run. ``--quick`` shrinks everything for a smoke run on a CPU.

    python benchmarks/gpu.py [--quick] [--json out.json] [--sizes 1e4,1e6] [--product brainevent]
"""

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

DT = 0.1  # ms


def device_name():
    import jax
    d = jax.devices()[0]
    return f"{d.platform}: {getattr(d, 'device_kind', str(d))}"


def _best_of(run, repeats=3):
    """Seconds of the fastest of ``repeats`` calls of ``run`` after two untimed ones (the
    second absorbs a retrace)."""
    import jax
    jax.block_until_ready(run())
    jax.block_until_ready(run())
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - t0)
    return best


def population_ns(n, steps):
    """ns per neuron-step of pynn_brainpy's glif_cond GLIF5 alone, float32."""
    import brainstate
    import jax.numpy as jnp
    from pynn_brainpy.models.glif_cond import glif_cond
    with brainstate.environ.context(dt=DT, precision=32):
        model = glif_cond(n, spike_dependent_threshold=True, after_spike_currents=True,
                          adapting_threshold=True)
        model.init_state()
        current = jnp.asarray(np.linspace(150.0, 400.0, n), jnp.float32)

        @brainstate.transform.jit
        def run():
            return brainstate.transform.for_loop(
                lambda i: jnp.sum(model.update(current) > 0), jnp.arange(steps))
        return _best_of(run) / (n * steps) * 1e9


def brainpy_state_ns(n, steps):
    """The same for ``brainpy.state.glif_cond`` (float32), or None where it is not installed."""
    try:
        import brainpy.state as bst
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    import brainstate
    import brainunit as bu
    import jax.numpy as jnp
    with brainstate.environ.context(dt=DT * bu.ms, precision=32):
        model = bst.glif_cond(n, spike_dependent_threshold=True, after_spike_currents=True,
                              adapting_threshold=True)
        model.init_state()
        current = jnp.asarray(np.linspace(150.0, 400.0, n), jnp.float32)

        def step(i):
            with brainstate.environ.context(t=i * DT * bu.ms, i=i):
                return jnp.sum(model.update(current * bu.pA) > 0)

        @brainstate.transform.jit
        def run():
            return brainstate.transform.for_loop(step, jnp.arange(steps))
        return _best_of(run) / (n * steps) * 1e9


def network(n, k_exc, k_inh, t_stop, record):
    """Build + compile and simulate time of the GLIF E/I network (float32). With ``record``,
    also the simulate time with recording switched off afterwards in the same network
    (``record(None)``: one more compilation, no second build)."""
    import pynn_brainpy as sim
    import glif_network as g

    def timed_runs():
        t0 = time.perf_counter()
        sim.run(t_stop)
        first = time.perf_counter() - t0
        sim.reset()
        t0 = time.perf_counter()
        sim.run(t_stop)
        return first, time.perf_counter() - t0

    t0 = time.perf_counter()
    sim.setup(timestep=DT, precision="float32", rng_seed=1, progress_bar=False)
    exc, inh, _ = g.build_brainpy(sim, n, k_exc, k_inh, record=record)
    build = time.perf_counter() - t0
    first, simulate = timed_runs()
    out = dict(build_s=build, build_compile_s=build + first - simulate, simulate_s=simulate,
               rtf=simulate / (t_stop / 1000.0), us_per_step=simulate / (t_stop / DT) * 1e6)
    if record:
        spikes = sum(sum(p.get_spike_counts().values()) for p in (exc, inh))
        out["rate_hz"] = spikes / n / (t_stop / 1000.0)
        for p in (exc, inh):
            p.record(None)
        sim.reset()
        out["simulate_no_recording_s"] = timed_runs()[1]
    sim.end()
    return out


def guarded(results, key, fn, *args):
    """``fn(*args)`` stored under ``key``; an exception is printed and stored instead."""
    t0 = time.perf_counter()
    try:
        results[key] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - report and go on with the other measurements
        traceback.print_exc()
        results[key] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    print(f"[{time.perf_counter() - t0:7.1f} s] {key}: {results[key]}", file=sys.stderr,
          flush=True)
    return results[key]


def _fmt(value, fmt, unit=""):
    if isinstance(value, dict) and "error" in value:
        return "failed"
    if value is None or isinstance(value, str):
        return "not installed" if value is None else value
    return f"{value:{fmt}}{unit}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CPU smoke run)")
    parser.add_argument("--json")
    parser.add_argument("--sizes", default=None,
                        help="population sizes, comma-separated (default 1e4,1e5,1e6)")
    parser.add_argument("--no-brainpy-state", action="store_true",
                        help="skip brainpy.state's population measurements")
    parser.add_argument("--product", choices=("gathered", "brainevent"), default="gathered",
                        help="the spike product off the CPU (engine.event_product)")
    parser.add_argument("--brainevent-backend", help="brainevent's GPU backend for "
                        "--product brainevent (e.g. jax_raw; default: cuda_raw)")
    args = parser.parse_args()
    from pynn_brainpy.engine import event_product
    event_product.use_on_accelerators(args.product)
    if args.brainevent_backend:
        import brainevent
        brainevent.binary_csrmv_p.set_default("gpu", args.brainevent_backend)
    sizes = ([int(float(x)) for x in args.sizes.split(",") if x] if args.sizes is not None else
             [1000, 4000] if args.quick else [10_000, 100_000, 1_000_000])
    steps = 200 if args.quick else 2000
    big_n, t_big = (2000, 50.0) if args.quick else (100_000, 1000.0)
    t_small = 100.0 if args.quick else 1000.0

    import jax
    import brainstate
    results = {"device": device_name(), "jax": jax.__version__,
               "brainstate": brainstate.__version__,
               "product": args.product, "xla_flags": os.environ.get("XLA_FLAGS", ""),
               "brainevent_backend": args.brainevent_backend or "default"}
    print(f"device {results['device']}, jax {jax.__version__}", file=sys.stderr, flush=True)
    for n in sizes:
        guarded(results, f"glif5_ns_{n}", population_ns, n, steps)
        results[f"brainpy_state_ns_{n}"] = "skipped"
        if not args.no_brainpy_state:
            guarded(results, f"brainpy_state_ns_{n}", brainpy_state_ns, n, steps)
    guarded(results, "small_network", network, 100, 8, 2, t_small, False)
    guarded(results, "network", network, big_n, 400, 100, t_big, True)

    rows = []
    for n in sizes:
        ours, theirs = results[f"glif5_ns_{n}"], results[f"brainpy_state_ns_{n}"]
        ratio = (f"{theirs / ours:.1f}x" if isinstance(ours, float) and isinstance(theirs, float)
                 else "-")
        rows.append((f"GLIF5 population, N = {n:.0e}, float32", _fmt(ours, ".3f", " ns"),
                     _fmt(theirs, ".3f", " ns"), ratio,
                     "<= 0.15 ns" if n == sizes[-1] else ""))
    rec, small = results["network"], results["small_network"]

    def get(r, key, fmt, unit=""):
        return _fmt(r if "error" in r else r[key], fmt, unit)

    overhead = ("failed" if "error" in rec else
                f"{100 * (rec['simulate_s'] / rec['simulate_no_recording_s'] - 1):+.0f} %")
    rows += [
        (f"GLIF network N = {big_n:.0e}, 500 rec. syn: build + compile",
         get(rec, "build_compile_s", ".1f", " s"), "", "", ""),
        (f"GLIF network N = {big_n:.0e}, 500 rec. syn: real-time factor",
         get(rec, "rtf", ".2f"), "", "", "<= 1"),
        (f"GLIF network N = {big_n:.0e}: mean rate", get(rec, "rate_hz", ".1f", " Hz"),
         "", "", ""),
        ("small network (100 neurons): cost per step", get(small, "us_per_step", ".1f", " µs"),
         "", "", "<= 30 µs"),
        ("recording every spike vs nothing", overhead, "", "", "<= 20 %"),
    ]
    print(f"pynn_brainpy GPU benchmarks on {results['device']} (jax {jax.__version__}), "
          f"product {args.product}, XLA_FLAGS={results['xla_flags']!r}")
    head = ("measurement", "pynn_brainpy", "brainpy.state", "bp.state/ours", "target")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    for row in [head] + rows:
        print("  ".join(f"{str(c):{w}s}" for c, w in zip(row, widths)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
