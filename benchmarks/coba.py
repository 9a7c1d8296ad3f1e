#!/usr/bin/env python
"""COBA (Vogels & Abbott 2005; Brette et al. 2007, benchmark 1): one PyNN script, two backends.

4000 IF_cond_exp neurons (3200 excitatory, 800 inhibitory), all-to-all random connectivity
with p = 0.02, conductance jumps of 4 nS (excitatory, tau 5 ms, 0 mV) and 51 nS (inhibitory,
tau 10 ms, -80 mV), delay 0.1 ms, dt 0.1 ms; membrane v_rest -60 mV, v_thresh -50 mV,
v_reset -60 mV, tau_m 20 ms, cm 0.2 nF, tau_refrac 5 ms; initial V uniform in [-60, -50] mV
and, as in PyNN's VAbenchmarks.py, 20 Poisson sources at 50 Hz onto the first 100 neurons for
the first 50 ms to start the self-sustained activity. 1 s simulated, all spikes recorded.

``--network cuba`` runs benchmark 2 instead (CUBA): the same network with IF_curr_exp,
v_rest -49 mV and current jumps of 0.0162 nA / -0.09 nA (PyNN's VAbenchmarks.py values).
``--spike-precision off_grid`` sets that on both sides (pyNN.nest's default; for IF_curr_exp
both then run NEST's precise iaf_psc_exp_ps, see docs/pynn.md).

The same function builds the network for ``pynn_brainpy`` and for ``pyNN.nest`` (``--threads``
threads), each in its own process. pynn_brainpy: the first run includes compilation; after
``reset()`` the same run is timed again. pyNN.nest: build and ``run`` timed.

    python benchmarks/coba.py [--t-stop 1000] [--threads 2] [--sides brainpy,brainpy32,nest]
    python benchmarks/coba.py --network cuba --spike-precision off_grid --sides brainpy,nest
"""

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import time

MARKER = "@@COBA_RESULT@@"
N_EXC, N_INH, P_CONNECT, DT = 3200, 800, 0.02, 0.1
CELL = dict(tau_m=20.0, cm=0.2, v_rest=-60.0, v_thresh=-50.0, v_reset=-60.0, tau_refrac=5.0,
            i_offset=0.0, tau_syn_E=5.0, tau_syn_I=10.0, e_rev_E=0.0, e_rev_I=-80.0)
W_EXC, W_INH, DELAY = 0.004, 0.051, 0.1
CUBA_CELL = dict(tau_m=20.0, cm=0.2, v_rest=-49.0, v_thresh=-50.0, v_reset=-60.0,
                 tau_refrac=5.0, i_offset=0.0, tau_syn_E=5.0, tau_syn_I=10.0)
CUBA_W_EXC, CUBA_W_INH = 0.0162, -0.09


def build(sim, network="coba"):
    rng = sim.NumpyRNG(seed=2468)
    if network == "cuba":
        celltype, w_exc, w_inh, w_stim = (sim.IF_curr_exp(**CUBA_CELL), CUBA_W_EXC,
                                          CUBA_W_INH, 1.0)
    else:
        celltype, w_exc, w_inh, w_stim = sim.IF_cond_exp(**CELL), W_EXC, W_INH, 0.1
    cells = sim.Population(N_EXC + N_INH, celltype, label="cells")
    cells.initialize(v=sim.RandomDistribution("uniform", (-60.0, -50.0), rng=rng))
    exc, inh = cells[:N_EXC], cells[N_EXC:]
    connector = sim.FixedProbabilityConnector(P_CONNECT, rng=rng)
    sim.Projection(exc, cells, connector, sim.StaticSynapse(weight=w_exc, delay=DELAY),
                   receptor_type="excitatory")
    sim.Projection(inh, cells, connector, sim.StaticSynapse(weight=w_inh, delay=DELAY),
                   receptor_type="inhibitory")
    stim = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0, duration=50.0), label="stim")
    sim.Projection(stim, cells[:100], sim.FixedProbabilityConnector(0.1, rng=rng),
                   sim.StaticSynapse(weight=w_stim, delay=DELAY), receptor_type="excitatory")
    cells.record("spikes")
    return cells


def child(side, t_stop, threads, network, spike_precision):
    if side == "nest":
        sim = importlib.import_module("pyNN.nest")
        sim.setup(timestep=DT, min_delay=DT, max_delay=10.0, threads=threads,
                  spike_precision=spike_precision)
    else:
        sim = importlib.import_module("pynn_brainpy")
        sim.setup(timestep=DT, min_delay=DT, max_delay=10.0, progress_bar=False,
                  precision="float32" if side == "brainpy32" else "float64",
                  spike_precision=spike_precision)
    t0 = time.perf_counter()
    cells = build(sim, network)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(t_stop)
    t_first = time.perf_counter() - t0
    spikes = sum(cells.get_spike_counts().values())
    result = dict(build_s=t_build, sim_s=t_first, spikes=int(spikes))
    if side != "nest":
        sim.reset()
        t0 = time.perf_counter()
        sim.run(t_stop)
        result["sim_s"] = time.perf_counter() - t0
        result["compile_s"] = t_first - result["sim_s"]
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    sim.end()
    print(MARKER + json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-stop", type=float, default=1000.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", default="brainpy,brainpy32,nest")
    parser.add_argument("--network", choices=("coba", "cuba"), default="coba")
    parser.add_argument("--spike-precision", choices=("on_grid", "off_grid"), default="on_grid")
    parser.add_argument("--json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.t_stop, args.threads, args.network, args.spike_precision)
    results = {}
    for side in args.sides.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", side,
               "--t-stop", str(args.t_stop), "--threads", str(args.threads),
               "--network", args.network, "--spike-precision", args.spike_precision]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             env=dict(os.environ, PYNEST_QUIET="1"))
        line = [x for x in out.stdout.splitlines() if x.startswith(MARKER)]
        if not line:
            sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
            raise RuntimeError(f"{side} failed")
        results[side] = json.loads(line[0][len(MARKER):])
    t = args.t_stop / 1000.0
    nest_sim = results.get("nest", {}).get("sim_s")
    cell = "IF_cond_exp" if args.network == "coba" else "IF_curr_exp"
    print(f"{args.network.upper()}, 4000 {cell}, p = 0.02, {args.t_stop:g} ms, dt {DT} ms, "
          f"{args.spike_precision}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; pyNN.nest {args.threads} threads")
    print(f"{'side':10s} {'build+compile s':>16s} {'simulate s':>11s} {'RTF':>7s} "
          f"{'rate Hz':>8s} {'peak MB':>8s} {'nest/this':>10s}")
    for side, r in results.items():
        ratio = f"{nest_sim / r['sim_s']:.2g}x" if nest_sim else "-"
        print(f"{side:10s} {r['build_s'] + r.get('compile_s', 0.0):16.2f} {r['sim_s']:11.2f} "
              f"{r['sim_s'] / t:7.2f} {r['spikes'] / (N_EXC + N_INH) / t:8.1f} "
              f"{r['peak_mb']:8.0f} {ratio:>10s}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(t_stop=args.t_stop, results=results), f, indent=1)


if __name__ == "__main__":
    main()
