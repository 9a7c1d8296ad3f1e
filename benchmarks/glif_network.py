#!/usr/bin/env python
"""GLIF_cond E/I network: pynn_brainpy (PyNN script) vs the same network in NEST 3.10.

The network (issue 5, benchmark 2): N GLIF5 neurons (80% excitatory), two ports (receptor_0:
tau_syn 2 ms, e_rev 0 mV; receptor_1: tau_syn 5 ms, e_rev -80 mV); every neuron receives 400
excitatory and 100 inhibitory recurrent inputs (FixedNumberPre) with delays uniform in
[1, 3] ms, and 100 inputs from a pool of 1000 SpikeSourcePoisson cells at 20 Hz; dt 0.1 ms,
1 s simulated.

Each side runs in its own process (for its peak memory):

* ``brainpy`` / ``brainpy32``: the PyNN script with ``import pynn_brainpy as sim`` in float64
  / float32. Timed: building the network, the first ``run`` (compilation + simulation) and,
  after ``reset()``, the same run again (simulation only). Build + compilation = build +
  first run - second run.
* ``nest``: the same connections (exported by the brainpy side: identical pre/post pairs,
  weights, delays, receptors) written directly for NEST 3.10 with ``--threads`` threads;
  Poisson cells as ``poisson_generator`` -> ``parrot_neuron`` (one train per source cell, as
  PyNN's backends do). Timed: building and ``nest.Simulate``.

The Poisson trains differ between simulators, so spike counts agree statistically only.

    python benchmarks/glif_network.py                     # N = 4000, all sides
    python benchmarks/glif_network.py --n 40000 --sides brainpy,brainpy32,nest
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

MARKER = "@@GLIF_NETWORK_RESULT@@"
DT = 0.1
K_EXC, K_INH, K_EXT, N_EXT, RATE_EXT = 400, 100, 100, 1000, 20.0
W_EXT, W_EXC, W_INH = 0.0007, 0.00012, 0.0008          # µS
DELAY = (1.0, 3.0)
CELL = dict(tau_syn=[2.0, 5.0], e_rev=[0.0, -80.0])


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_brainpy(sim, n, k_exc=K_EXC, k_inh=K_INH, record=True):
    """The network in PyNN, on ``sim`` after ``setup``; with fewer recurrent inputs than 400 + 100
    the weights grow to keep the total recurrent drive. Returns ``(exc, inh, projections)``,
    each projection as ``(projection, source label, target label)``."""
    rng = sim.NumpyRNG(seed=42)
    n_exc = int(0.8 * n)
    celltype = sim.GLIF_cond.variant(5, **CELL)
    exc = sim.Population(n_exc, celltype, label="exc")
    inh = sim.Population(n - n_exc, celltype, label="inh")
    ext = sim.Population(N_EXT, sim.SpikeSourcePoisson(rate=RATE_EXT), label="ext")
    for p in (exc, inh):
        p.initialize(v=sim.RandomDistribution("uniform", (-75.0, -55.0), rng=rng))
    delay = sim.RandomDistribution("uniform", DELAY, rng=rng)
    w_exc, w_inh = W_EXC * K_EXC / k_exc, W_INH * K_INH / k_inh
    prjs = []
    for target in (exc, inh):
        prjs += [
            (sim.Projection(ext, target, sim.FixedNumberPreConnector(K_EXT, rng=rng),
                            sim.StaticSynapse(weight=W_EXT, delay=1.0),
                            receptor_type="receptor_0"), "ext", target.label),
            (sim.Projection(exc, target, sim.FixedNumberPreConnector(k_exc, rng=rng),
                            sim.StaticSynapse(weight=w_exc, delay=delay),
                            receptor_type="receptor_0"), "exc", target.label),
            (sim.Projection(inh, target, sim.FixedNumberPreConnector(k_inh, rng=rng),
                            sim.StaticSynapse(weight=w_inh, delay=delay),
                            receptor_type="receptor_1"), "inh", target.label)]
    if record:
        exc.record("spikes")
        inh.record("spikes")
    return exc, inh, prjs


def run_brainpy(n, t_stop, precision, export):
    import pynn_brainpy as sim
    t0 = time.perf_counter()
    sim.setup(timestep=DT, precision=precision, rng_seed=1, progress_bar=False)
    exc, inh, prjs = build_brainpy(sim, n)
    n_exc = exc.size
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(t_stop)
    t_first = time.perf_counter() - t0
    spikes = sum(sum(p.get_spike_counts().values()) for p in (exc, inh))
    sim.reset()
    t0 = time.perf_counter()
    sim.run(t_stop)
    t_sim = time.perf_counter() - t0
    if export:
        arrays = {}
        for i, (prj, src, tgt) in enumerate(prjs):
            arrays[f"{i}_pre"], arrays[f"{i}_post"] = prj._pre, prj._post
            arrays[f"{i}_weight"] = prj._values["weight"]
            arrays[f"{i}_delay"] = prj._values["delay"]
            arrays[f"{i}_meta"] = np.array([src, tgt, prj.receptor_type])
        np.savez(export, n_exc=n_exc, **arrays)
    return dict(build_s=t_build, first_run_s=t_first, sim_s=t_sim,
                compile_s=t_first - t_sim, spikes=int(spikes),
                synapses=int(sum(len(p) for p, _, _ in prjs)))


def run_nest(n, t_stop, threads, connections):
    import nest
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT, "local_num_threads": threads, "rng_seed": 1})
    from pynn_brainpy.standardmodels.cells import GLIF_cond
    data = np.load(connections)
    n_exc = int(data["n_exc"])
    t0 = time.perf_counter()
    kw = GLIF_cond.variant(5, **CELL).model_kwargs(1)
    params = {("g_m" if k == "g" else k): (v.tolist()[0] if np.ndim(v) == 2 else
                                            (v if isinstance(v, bool) else float(v[0])))
              for k, v in kw.items() if k not in ("I_e", "asc_init")}
    neurons = nest.Create("glif_cond", n, params=params)
    rng = np.random.default_rng(42)
    neurons.V_m = rng.uniform(-75.0, -55.0, n).tolist()
    generators = nest.Create("poisson_generator", N_EXT, params={"rate": RATE_EXT})
    parrots = nest.Create("parrot_neuron", N_EXT)
    nest.Connect(generators, parrots, "one_to_one")
    first = {"ext": parrots[0].global_id, "exc": neurons[0].global_id,
             "inh": neurons[n_exc].global_id}
    target_first = {"exc": neurons[0].global_id, "inh": neurons[n_exc].global_id}
    i = 0
    while f"{i}_pre" in data:
        src, tgt, receptor = data[f"{i}_meta"]
        pre = data[f"{i}_pre"] + first[str(src)]
        post = data[f"{i}_post"] + target_first[str(tgt)]
        nest.Connect(pre.tolist(), post.tolist(), {"rule": "one_to_one"},
                     {"synapse_model": "static_synapse",
                      "weight": (data[f"{i}_weight"] * 1000.0).tolist(),
                      "delay": data[f"{i}_delay"].tolist(),
                      "receptor_type": int(str(receptor).split("_")[1]) + 1})
        i += 1
    recorder = nest.Create("spike_recorder")
    nest.Connect(neurons, recorder)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Simulate(t_stop)
    t_sim = time.perf_counter() - t0
    return dict(build_s=t_build, sim_s=t_sim, spikes=int(recorder.n_events))


def child(args):
    if args.side == "nest":
        result = run_nest(args.n, args.t_stop, args.threads, args.connections)
    else:
        result = run_brainpy(args.n, args.t_stop,
                             "float32" if args.side == "brainpy32" else "float64",
                             args.connections)
    result["peak_mb"] = peak_memory_mb()
    print(MARKER + json.dumps(result))


def spawn(side, args, connections):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--side", side,
           "--n", str(args.n), "--t-stop", str(args.t_stop), "--threads", str(args.threads),
           "--connections", connections]
    env = dict(os.environ, PYNEST_QUIET="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in out.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
    raise RuntimeError(f"{side} failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--t-stop", type=float, default=1000.0)
    parser.add_argument("--threads", type=int, default=2, help="NEST threads")
    parser.add_argument("--sides", default="brainpy,brainpy32,nest")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--connections", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    sides = args.sides.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        connections = os.path.join(tmp, "connections.npz")
        results = {}
        # the float64 brainpy side exports the connections NEST uses
        for side in sorted(sides, key=lambda s: s != "brainpy"):
            results[side] = spawn(side, args, connections if side != "brainpy32" else "")
    t = args.t_stop / 1000.0
    print(f"GLIF_cond E/I network, N = {args.n}, {results.get('brainpy', {}).get('synapses', '?')}"
          f" synapses, {args.t_stop:g} ms, dt {DT} ms; {platform.processor() or platform.machine()},"
          f" {os.cpu_count()} cores; NEST {args.threads} threads")
    print(f"{'side':10s} {'build+compile s':>16s} {'simulate s':>11s} {'RTF':>7s} "
          f"{'rate Hz':>8s} {'peak MB':>8s} {'NEST/this':>10s}")
    nest_sim = results.get("nest", {}).get("sim_s")
    for side, r in results.items():
        setup = r["build_s"] + r.get("compile_s", 0.0)
        ratio = f"{nest_sim / r['sim_s']:.1f}x" if nest_sim else "-"
        print(f"{side:10s} {setup:16.2f} {r['sim_s']:11.2f} {r['sim_s'] / t:7.2f} "
              f"{r['spikes'] / args.n / t:8.1f} {r['peak_mb']:8.0f} {ratio:>10s}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(n=args.n, t_stop=args.t_stop, results=results), f, indent=1)


if __name__ == "__main__":
    main()
