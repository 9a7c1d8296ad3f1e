#!/usr/bin/env python
"""Cost of one ``glif_cond`` neuron update: pynn_brainpy vs NEST 3.10 vs brainpy.state.

Prints a table of nanoseconds per neuron-step (wall time of the simulation loop divided by
``N * steps``) for GLIF1 and GLIF5 at several population sizes, dt = 0.1 ms, for

* pynn_brainpy's :class:`~pynn_brainpy.models.glif_cond.glif_cond`, float64 and float32 (each
  precision in its own subprocess, because JAX's x64 flag is process-global),
* NEST's ``glif_cond`` with one thread (``local_num_threads: 1``),
* ``brainpy.state.glif_cond`` (float64), if ``import brainpy.state`` works in the interpreter
  given by ``--brainpy-python`` (default: this one); otherwise that column says
  "not installed".

Drive: neuron ``i`` of ``N`` gets a constant current ``150 + 250·i/(N−1)`` pA (150 to 400 pA),
so that the neurons above rheobase (~256 pA for GLIF1) fire at moderate rates and the rest sit
below threshold. pynn_brainpy and brainpy.state get it as ``update(x)`` in every step; NEST
gets it from one ``dc_generator`` (amplitude 1 pA) connected to every neuron with the current
as the connection weight. There is no synaptic input.

XLA's CPU pool: one thread for pynn_brainpy (what its ``setup`` chooses), JAX's default (one
thread per CPU) for brainpy.state, which is faster that way; ``--cpu-threads`` and
``--brainpy-cpu-threads`` change them (docs/performance.md).

Only simulation is timed. pynn_brainpy and brainpy.state: a jit-compiled
``brainstate.transform.for_loop`` over a chunk of steps is run three times untimed
(compilation, warm-up, sizing), then timed over whole chunks, blocking with ``jax.block_until_ready``. NEST: a short warm-up
``nest.Simulate`` (it also prepares the kernel), then ``nest.Simulate(T)`` is timed. Every
measurement is repeated (``--repeats``) and the fastest is reported; step counts are chosen
so that one timed run takes about ``--target-seconds`` unless ``--steps`` fixes them.

Usage::

    python benchmarks/neuron_update.py                  # the full table (~3-4 min on 2 cores)
    python benchmarks/neuron_update.py --quick          # smoke run (~1 min)
    python benchmarks/neuron_update.py --sizes 1e4 --variants 5 --steps 2000
    python benchmarks/neuron_update.py --brainpy-python /path/to/venv/bin/python
    python benchmarks/neuron_update.py --cpu-threads 0  # JAX's default CPU pool for ours too
"""

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = "@@NEURON_UPDATE_RESULT@@"
DT = 0.1  # ms
FLAGS = {1: (False, False, False), 5: (True, True, True)}  # GLIF variant -> mechanism flags
I_LOW, I_HIGH = 150.0, 400.0  # pA


def drive(n):
    """The per-neuron DC current in pA, float64 NumPy array."""
    import numpy as np
    return np.linspace(I_LOW, I_HIGH, n) if n > 1 else np.array([I_LOW])


def default_chunk(n):
    """Steps per compiled JAX call: about 2e6 neuron-steps (0.1-0.5 s at 50-250 ns)."""
    return int(min(2000, max(10, round(2e6 / n))))


# ============================================================================ JAX workers
def _time_jax_loop(run, args, chunk, cfg):
    """Compile/warm up ``run(*args)``, then time whole chunks. Returns a result dict."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(run(*args))
    t_compile = time.perf_counter() - t0
    # Two more untimed calls: the second absorbs a retrace (brainpy.state's glif_cond compiles
    # again on its second call), the third sizes the timed run.
    jax.block_until_ready(run(*args))
    t0 = time.perf_counter()
    jax.block_until_ready(run(*args))
    t_one = time.perf_counter() - t0
    reps = 1 if cfg["steps"] else max(1, int(math.ceil(cfg["target"] / max(t_one, 1e-6))))
    times, spikes = [], 0
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        outs = [run(*args) for _ in range(reps)]
        jax.block_until_ready(outs)
        times.append(time.perf_counter() - t0)
        spikes = int(sum(int(o.sum()) for o in outs))
    return {"steps": chunk * reps, "seconds": min(times), "all_seconds": times,
            "compile_and_first_run_s": t_compile, "second_run_s": t_one, "spikes": spikes}


def _start_jax(threads):
    """Start JAX with ``threads`` threads in XLA's CPU pool (0: JAX's default, one per CPU)."""
    if threads:
        sys.path.insert(0, ROOT)
        from pynn_brainpy import use_cpu_threads
        use_cpu_threads(threads)


def worker_ours(cfg, precision):
    _start_jax(cfg["cpu_threads"])
    import brainstate
    brainstate.environ.set(precision=precision, dt=DT)
    import jax
    import jax.numpy as jnp
    sys.path.insert(0, ROOT)
    from pynn_brainpy.models.glif_cond import glif_cond

    results = []
    for variant in cfg["variants"]:
        R, ASC, A = FLAGS[variant]
        for n in cfg["sizes"]:
            model = glif_cond(n, spike_dependent_threshold=R, after_spike_currents=ASC,
                              adapting_threshold=A)
            model.init_state()
            chunk = cfg["steps"] or default_chunk(n)
            current = jnp.asarray(drive(n), brainstate.environ.dftype())

            def step(_, current=current, model=model):
                return jnp.sum(model.update(current) > 0, dtype=jnp.int32)

            @brainstate.transform.jit
            def run(current, chunk=chunk, step=step):
                return brainstate.transform.for_loop(
                    lambda i: step(i, current), jnp.arange(chunk))

            res = _time_jax_loop(run, (current,), chunk, cfg)
            res.update(variant=variant, n=n)
            results.append(res)
            print(f"  pynn_brainpy f{precision} GLIF{variant} N={n}: "
                  f"{res['seconds'] / (n * res['steps']) * 1e9:.1f} ns", file=sys.stderr)
    import jaxlib
    return {"results": results, "devices": [str(d) for d in jax.devices()],
            "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                         "brainstate": brainstate.__version__},
            "dtype": str(brainstate.environ.dftype())}


def worker_brainpy(cfg):
    _start_jax(cfg["brainpy_cpu_threads"])
    try:
        import brainpy.state as bst
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return {"error": "not installed", "detail": f"{type(exc).__name__}: {exc}"}
    import brainpy
    import brainstate
    import brainunit as bu
    brainstate.environ.set(precision=64, dt=DT * bu.ms)
    import jax
    import jax.numpy as jnp

    results = []
    for variant in cfg["variants"]:
        R, ASC, A = FLAGS[variant]
        for n in cfg["sizes"]:
            model = bst.glif_cond(n, spike_dependent_threshold=R, after_spike_currents=ASC,
                                  adapting_threshold=A)
            model.init_state()
            chunk = cfg["steps"] or default_chunk(n)
            current = jnp.asarray(drive(n), jnp.float64)

            def step(i, current, model=model):
                with brainstate.environ.context(t=i * DT * bu.ms, i=i):
                    spk = model.update(current * bu.pA)
                return jnp.sum(spk > 0, dtype=jnp.int32)

            @brainstate.transform.jit
            def run(current, chunk=chunk, step=step):
                return brainstate.transform.for_loop(
                    lambda i: step(i, current), jnp.arange(chunk))

            res = _time_jax_loop(run, (current,), chunk, cfg)
            res.update(variant=variant, n=n)
            results.append(res)
            print(f"  brainpy.state GLIF{variant} N={n}: "
                  f"{res['seconds'] / (n * res['steps']) * 1e9:.1f} ns", file=sys.stderr)
    versions = {"brainpy": brainpy.__version__, "jax": jax.__version__,
                "brainstate": brainstate.__version__}
    try:
        import brainpy_state
        versions["brainpy_state"] = brainpy_state.__version__
    except Exception:  # noqa: BLE001
        pass
    return {"results": results, "devices": [str(d) for d in jax.devices()],
            "versions": versions, "python": sys.executable}


# ============================================================================ NEST worker
def worker_nest(cfg):
    os.environ.setdefault("PYNEST_QUIET", "1")
    try:
        import nest
    except Exception as exc:  # noqa: BLE001
        return {"error": "not installed", "detail": f"{type(exc).__name__}: {exc}"}
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR  # NEST >= 3.9
    except AttributeError:
        nest.set_verbosity("M_ERROR")

    results = []
    for variant in cfg["variants"]:
        R, ASC, A = FLAGS[variant]
        for n in cfg["sizes"]:
            nest.ResetKernel()
            nest.set(resolution=DT, local_num_threads=1, print_time=False)
            pop = nest.Create("glif_cond", n, params={
                "spike_dependent_threshold": R, "after_spike_currents": ASC,
                "adapting_threshold": A})
            dc = nest.Create("dc_generator", params={"amplitude": 1.0})
            nest.Connect(dc, pop, "all_to_all",
                         syn_spec={"weight": drive(n).reshape(n, 1), "delay": DT})
            rec = nest.Create("spike_recorder")
            nest.Connect(pop, rec)
            # Warm-up (the first Simulate also prepares the kernel), then a second untimed
            # run of the same length that sizes the measured run.
            warm = int(min(1000, max(10, round(1e6 / n))))
            nest.Simulate(warm * DT)
            t0 = time.perf_counter()
            nest.Simulate(warm * DT)
            t_warm = time.perf_counter() - t0
            if cfg["steps"]:
                steps = cfg["steps"]
            else:
                steps = max(20, int(round(cfg["target"] / max(t_warm, 1e-6) * warm)))
            times = []
            for _ in range(cfg["repeats"]):
                before = rec.n_events
                t0 = time.perf_counter()
                nest.Simulate(steps * DT)
                times.append(time.perf_counter() - t0)
                spikes = rec.n_events - before
            results.append({"variant": variant, "n": n, "steps": steps, "seconds": min(times),
                            "all_seconds": times, "warmup_steps": warm,
                            "warmup_s": t_warm, "spikes": int(spikes)})
            print(f"  NEST GLIF{variant} N={n}: "
                  f"{min(times) / (n * steps) * 1e9:.1f} ns", file=sys.stderr)
    return {"results": results, "versions": {"nest": nest.__version__},
            "threads": nest.GetKernelStatus("local_num_threads")}


# ============================================================================ driver
def _machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"cpu": model, "cores": os.cpu_count(), "usable_cores": usable,
            "platform": platform.platform(), "python": platform.python_version()}


def _loadavg():
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def _run_worker(kind, cfg, python=None):
    """Run this script as a worker subprocess and return its JSON result (or an error)."""
    cmd = [python or sys.executable, os.path.abspath(__file__), "--_worker", kind,
           "--_config", json.dumps(cfg)]
    env = dict(os.environ, PYNEST_QUIET="1")
    load = _loadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT)
    except OSError as exc:
        return {"error": f"could not start: {exc}"}
    sys.stderr.write(proc.stderr if cfg.get("verbose") else "")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            out = json.loads(line[len(MARKER):])
            out["wall_s"] = time.perf_counter() - t0
            out["loadavg_before"], out["loadavg_after"] = load, _loadavg()
            return out
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"worker failed (exit {proc.returncode})", "detail": "\n".join(tail)}


def _ns(res):
    return res["seconds"] / (res["n"] * res["steps"]) * 1e9


def _index(out):
    if not out or "error" in out:
        return {}
    return {(r["variant"], r["n"]): r for r in out["results"]}


def _fmt(x, nd=1):
    return f"{x:.{nd}f}" if x is not None else "–"


def report(cfg, outs, machine, load_before, load_after, command, wall):
    names = [("ours64", "pynn_brainpy f64"), ("ours32", "pynn_brainpy f32"),
             ("nest", "NEST 3.10 (1 thread)"), ("brainpy", "brainpy.state f64")]
    idx = {k: _index(outs.get(k)) for k, _ in names}
    lines = []
    p = lines.append
    p("# glif_cond: nanoseconds per neuron-step (dt = 0.1 ms; lower is better)")
    p("")
    p(f"command : {command}")
    p(f"machine : {machine['cpu']}, {machine['cores']} cores "
      f"({machine['usable_cores']} usable), {machine['platform']}, Python {machine['python']}")
    o64 = outs.get("ours64", {})
    if "devices" in o64:
        p(f"jax     : devices {o64['devices']}; " +
          ", ".join(f"{k} {v}" for k, v in o64["versions"].items()))
    nest_out = outs.get("nest", {})
    p("NEST    : " + (f"{nest_out['versions']['nest']}, local_num_threads = "
                      f"{nest_out['threads']}" if "versions" in nest_out
                      else f"{nest_out.get('error', 'skipped')}"))
    bp = outs.get("brainpy", {})
    p("brainpy : " + (", ".join(f"{k} {v}" for k, v in bp["versions"].items()) +
                      f" ({bp['python']})" if "versions" in bp
                      else bp.get("error", "skipped")))
    p(f"timing  : best of {cfg['repeats']} timed runs, each about "
      + (f"{cfg['steps']} steps" if cfg["steps"] else f"{cfg['target']} s")
      + f"; load average before {load_before}, after {load_after}; total wall {wall:.0f} s")
    loads = [f"{k} {outs[k]['loadavg_before'][0]}→{outs[k]['loadavg_after'][0]}"
             for k, _ in names if outs.get(k, {}).get("loadavg_before")]
    if loads:
        p("load    : 1-min load average before→after each worker: " + ", ".join(loads))
    pool = lambda k: f"{k} thread(s)" if k else "JAX's default (one thread per CPU)"
    p(f"XLA CPU pool: pynn_brainpy {pool(cfg['cpu_threads'])}, brainpy.state "
      f"{pool(cfg['brainpy_cpu_threads'])} (--cpu-threads, --brainpy-cpu-threads)")
    p("")
    hdr = ["GLIF", "N", "ours f64", "ours f32", "NEST", "brainpy.state",
           "NEST/ours f64", "NEST/ours f32", "brainpy.state/ours f64"]
    rows = []
    for variant in cfg["variants"]:
        for n in cfg["sizes"]:
            vals = {}
            for key, _ in names:
                r = idx[key].get((variant, n))
                vals[key] = _ns(r) if r else None
            cells = [str(variant), f"{n:.0e}".replace("e+0", "e")]
            for key in ("ours64", "ours32", "nest", "brainpy"):
                if vals[key] is not None:
                    cells.append(_fmt(vals[key]))
                else:
                    err = outs.get(key, {}).get("error")
                    cells.append(err if err == "not installed" else ("skipped" if err is None
                                                                      else "error"))

            def ratio(a, b):
                return f"{vals[a] / vals[b]:.2f}×" if vals[a] and vals[b] else "–"
            cells += [ratio("nest", "ours64"), ratio("nest", "ours32"),
                      ratio("brainpy", "ours64")]
            rows.append(cells)
    p("| " + " | ".join(hdr) + " |")
    p("|" + "|".join("---:" if i > 1 else "---" for i in range(len(hdr))) + "|")
    for cells in rows:
        p("| " + " | ".join(cells) + " |")
    p("")
    p("Steps timed, and the mean firing rate in the timed window (Hz), as ours f64 / ours f32 / "
      "NEST / brainpy.state. The windows start at different times (after each simulator's "
      "warm-up), and short windows at large N fall in the onset transient, so the rates only "
      "show that the populations fire; they are not an equivalence test.")
    p("")
    p("| GLIF | N | steps | rate (Hz) |")
    p("|---|---:|---|---|")
    for variant in cfg["variants"]:
        for n in cfg["sizes"]:
            st, rt = [], []
            for key, _ in names:
                r = idx[key].get((variant, n))
                st.append(str(r["steps"]) if r else "–")
                rt.append(f"{r['spikes'] / (n * r['steps'] * DT * 1e-3):.1f}" if r else "–")
            p(f"| {variant} | {n:.0e} | {' / '.join(st)} | {' / '.join(rt)} |"
              .replace("e+0", "e"))
    for key, label in names:
        out = outs.get(key, {})
        if "error" in out and out.get("detail"):
            p("")
            p(f"{label}: {out['error']}: {out['detail']}")
    return "\n".join(lines)


def parse_sizes(text):
    return [int(float(s)) for s in text.replace(" ", "").split(",") if s]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1e3,1e4,1e5",
                    help="comma-separated neuron counts (default 1e3,1e4,1e5)")
    ap.add_argument("--variants", default="1,5", help="GLIF variants to run: 1 and/or 5 (default 1,5)")
    ap.add_argument("--steps", type=int, default=None,
                    help="fixed number of timed steps for every measurement (default: chosen "
                         "so that one timed run takes about --target-seconds)")
    ap.add_argument("--target-seconds", type=float, default=1.5,
                    help="wall time of one timed run when --steps is not given (default 1.5)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="timed runs per measurement; the fastest is reported (default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: sizes 1e3,1e4, 0.2 s per timed run, one repeat")
    ap.add_argument("--no-nest", action="store_true", help="skip NEST")
    ap.add_argument("--no-brainpy", action="store_true", help="skip brainpy.state")
    ap.add_argument("--no-f32", action="store_true", help="skip pynn_brainpy float32")
    ap.add_argument("--brainpy-python", default=None,
                    help="Python interpreter for the brainpy.state worker (e.g. a venv that "
                         "has brainpy installed; default: this interpreter)")
    ap.add_argument("--cpu-threads", type=int, default=1,
                    help="threads in XLA's CPU pool for pynn_brainpy (default 1, what its "
                         "setup() chooses; 0: JAX's default, one per CPU)")
    ap.add_argument("--brainpy-cpu-threads", type=int, default=0,
                    help="the same for brainpy.state (default 0: JAX's default, which is "
                         "faster for it than one thread; see docs/performance.md)")
    ap.add_argument("--json", default=None, help="also write all raw results to this file")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="show the workers' progress lines")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._worker:
        cfg = json.loads(args._config)
        if args._worker == "ours64":
            out = worker_ours(cfg, 64)
        elif args._worker == "ours32":
            out = worker_ours(cfg, 32)
        elif args._worker == "nest":
            out = worker_nest(cfg)
        elif args._worker == "brainpy":
            out = worker_brainpy(cfg)
        else:
            raise SystemExit(f"unknown worker {args._worker!r}")
        sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
        sys.stdout.flush()
        return 0

    cfg = {"sizes": parse_sizes(args.sizes),
           "variants": [int(v) for v in args.variants.split(",") if v],
           "steps": args.steps, "target": args.target_seconds, "repeats": args.repeats,
           "cpu_threads": args.cpu_threads,
           "brainpy_cpu_threads": args.brainpy_cpu_threads, "verbose": args.verbose}
    if args.quick:
        cfg.update(sizes=[s for s in cfg["sizes"] if s <= 10000] or [1000], target=0.2,
                   repeats=1)
    for v in cfg["variants"]:
        if v not in FLAGS:
            ap.error(f"--variants: only 1 and 5 are benchmarked (got {v})")
    if args.steps is not None and args.steps < 1:
        ap.error("--steps must be positive")
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.target_seconds <= 0:
        ap.error("--target-seconds must be positive")

    command = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(os.path.abspath(__file__), ROOT)]
                                   + list(sys.argv[1:] if argv is None else argv))
    machine = _machine()
    load_before = _loadavg()
    t0 = time.perf_counter()
    outs = {}
    plan = [("ours64", None), ("ours32", None)]
    if args.no_f32:
        plan.pop()
    if not args.no_nest:
        plan.append(("nest", None))
    if not args.no_brainpy:
        plan.append(("brainpy", args.brainpy_python))
    for kind, python in plan:
        print(f"[neuron_update] running {kind} ...", file=sys.stderr, flush=True)
        outs[kind] = _run_worker(kind, cfg, python)
        if "error" in outs[kind]:
            print(f"[neuron_update] {kind}: {outs[kind]['error']}", file=sys.stderr)
    wall = time.perf_counter() - t0
    text = report(cfg, outs, machine, load_before, _loadavg(), command, wall)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": cfg, "machine": machine, "command": command,
                       "results": outs}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
