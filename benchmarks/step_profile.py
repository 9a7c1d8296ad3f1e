#!/usr/bin/env python
"""Where the compiled step's time goes, operation by operation (XLA CPU thunks).

Builds one of the networks of ``network_breakdown.py``, runs it once (compilation), then runs
it again under ``jax.profiler.trace`` with XLA's per-thunk trace events switched on
(``--xla_cpu_enable_xprof_traceme=true``, set here before JAX starts) and prints the
operations that took the most time: total µs per simulated step, how often per step the
operation ran, and µs per call; on a GPU also the kernels and copies the device ran (CUPTI)
and how many per step. Names are XLA's (``fusion.*``, ``copy.*``, ``ffi_call.*`` for
brainevent's sparse product, ``while.*``/``cond.*`` for loops and branches, whose time includes
what runs inside them). The profiler slows Python callbacks (brainevent's CPU kernels are
called through one) and does not record every step (``per step`` is scaled by the steps
it saw), so compare rows with each other, not with ``network_breakdown.py``.

    python benchmarks/step_profile.py small           # 100 GLIF5, 8 + 2 recurrent, Poisson
    python benchmarks/step_profile.py bench           # benchmarks/glif_network.py, N = 4000
    python benchmarks/step_profile.py glif            # 4000 GLIF5 alone
    python benchmarks/step_profile.py glif-drive      # + Poisson drive
    python benchmarks/step_profile.py glif-full       # + recurrent (21 delays) + recording
    python benchmarks/step_profile.py coba            # COBA full network
    PRECISION=float32 python benchmarks/step_profile.py bench
"""

import collections
import glob
import gzip
import json
import os
import sys
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_enable_xprof_traceme=true").strip()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

import coba  # noqa: E402
import glif_network  # noqa: E402
import network_breakdown as nb  # noqa: E402
import pynn_brainpy as sim  # noqa: E402

NETWORKS = {
    "small": lambda: glif_network.build_brainpy(sim, 100, 8, 2, record=False),
    "bench": lambda: glif_network.build_brainpy(sim, 4000),
    "glif": lambda: nb.glif_network(),
    "glif-drive": lambda: nb.glif_network(drive=True),
    "glif-full": lambda: nb.glif_network(True, "uniform", record=True),
    "coba": lambda: coba.build(sim),
}


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "glif-full"
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    sim.setup(timestep=0.1, min_delay=0.1, progress_bar=False,
              precision=os.environ.get("PRECISION", "float64"))
    NETWORKS[which]()
    sim.run(nb.STEPS_MS)                       # compile
    with tempfile.TemporaryDirectory() as out:
        with jax.profiler.trace(out, create_perfetto_trace=True):
            sim.run(nb.STEPS_MS)
        trace = glob.glob(os.path.join(out, "**", "*.trace.json.gz"), recursive=True)[0]
        events = json.load(gzip.open(trace))["traceEvents"]
    sim.end()
    process = {e["pid"]: e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "process_name"}
    total, calls = collections.Counter(), collections.Counter()
    for e in events:
        name = e.get("name", "")
        # XLA thunks (CPU) or kernels and copies (GPU): Python frames ('$...') and the
        # executor's own spans are left out
        if e.get("ph") == "X" and not name.startswith("$") and "Thunk" not in name \
                and "Pjit" not in name:
            where = "GPU" if "GPU" in process.get(e.get("pid"), "") else "host"
            total[where, name] += e.get("dur", 0)
            calls[where, name] += 1
    steps = round(nb.STEPS_MS / 0.1)
    # the most frequent once-per-step operation tells how many steps the trace recorded
    seen = max(1, max((c for n, c in calls.items() if c <= steps), default=steps))
    print(f"{which} on {jax.devices()[0].device_kind}: {seen} of {steps} steps recorded")
    on_gpu = [k for k in total if k[0] == "GPU"]
    if on_gpu:
        print(f"GPU: {sum(calls[k] for k in on_gpu) / seen:.1f} operations per step, "
              f"{sum(total[k] for k in on_gpu) / seen:.1f} µs busy per step")
    print(f"{'µs per step':>12s} {'calls/step':>10s} {'µs/call':>9s}  operation")
    for (where, name), t in total.most_common(top):
        calls_ = calls[where, name]
        print(f"{t / seen:12.1f} {calls_ / seen:10.2f} {t / calls_:9.1f}  {where}: {name[:80]}")


if __name__ == "__main__":
    main()
