#!/usr/bin/env python
"""Where each thread's time goes in a network's step, native functions by name (Linux perf).

``step_profile.py`` ranks XLA's operations, but the native code (the neuron loops, the ring
handlers, the ring worker's thread) is one opaque call there, and it cannot tell the threads
apart. This script samples every thread of the process with ``perf record`` (CPU clock, no
hardware counters needed) while the network runs, and names each sample:

* the native functions that numba compiled for pynn_brainpy (``quiet``: a neuron loop;
  ``_add_part``: adding a batch's events into the ring; ``_added_up_to``: a handler waiting
  for, or adding, batches still in flight; ``_serve``: the ring worker between tasks, spinning;
  ``take_out_next_row``, ``_post``, ...), found from their machine code's symbols. For that
  numba must compile them in this process: the script points ``NUMBA_CACHE_DIR`` and
  ``PYNN_BRAINPY_CACHE`` at an empty temporary directory (a first run takes a minute);
* other just-in-time code: XLA's kernels;
* shared libraries by name (XLA's runtime in ``libjax_common``, libc, the kernel, Python).

It prints, per thread, µs per simulated step in each (samples · sampling period / steps).
Sampling (10 kHz on each thread) slows the run by some 10-30 % and shifts time towards
whatever it interrupts, so compare rows and threads with each other, not with the times
of ``glif_network.py``.

    python benchmarks/thread_profile.py                       # GLIF network, float32
    python benchmarks/thread_profile.py --network coba --precision float64
    python benchmarks/thread_profile.py --repeats 8 --top 12

Needs ``perf`` (Debian: ``linux-perf``) and permission to sample this process
(``/proc/sys/kernel/perf_event_paranoid`` ≤ 2 for one's own processes).
"""

import argparse
import atexit
import bisect
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

_SCRATCH = tempfile.mkdtemp(prefix="thread_profile_")
atexit.register(shutil.rmtree, _SCRATCH, True)         # also when the script fails
# before numba is imported: compile everything here (symbols need a fresh compilation)
os.environ["NUMBA_CACHE_DIR"] = os.path.join(_SCRATCH, "numba")
os.environ["PYNN_BRAINPY_CACHE"] = os.path.join(_SCRATCH, "pynn_brainpy")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pynn_brainpy.engine import _ring_worker, native  # noqa: E402

STEP_MS = 0.1
_FUNCTIONS = {}          # machine-code address -> (size in bytes, readable name)


def _readable(symbol: str) -> str:
    """numba's mangled name -> the Python function's name (``_ZN12pynn_brainpy6engine12_ring_
    worker9_add_partB3v60…`` -> ``_add_part``): the last of the length-prefixed parts, without
    the suffixes that name cached handlers."""
    if "_ZN" not in symbol:
        return symbol
    parts, rest = [], symbol.split("_ZN", 1)[1]
    while rest[:1].isdigit():
        length = re.match(r"\d+", rest).group()
        parts.append(rest[len(length):len(length) + int(length)])
        rest = rest[len(length) + int(length):]
    # without the suffixes of cached native code (API version, native.SOURCES_DIGEST)
    name = parts[-1].removesuffix(f"_{native.SOURCES_DIGEST}") if parts else symbol
    return re.sub(r"_ffi_api_\d+_\d+$", "", name)


def _record_library(library) -> None:
    """The addresses and sizes of the functions in a numba code library."""
    module = library._final_module
    with tempfile.NamedTemporaryFile(suffix=".o", dir=_SCRATCH) as f:
        f.write(library._codegen._tm.emit_object(module))
        f.flush()
        listing = subprocess.run(["nm", "-S", "--defined-only", f.name], capture_output=True,
                                 text=True).stdout
    sizes = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 4:
            sizes[fields[3]] = int(fields[1], 16)
    for fn in module.functions:
        if fn.is_declaration:
            continue
        address = library.get_pointer_to_function(fn.name)
        if address:
            _FUNCTIONS[address] = (sizes.get(fn.name, 1), _readable(fn.name))


_compile_cfunc = native.compile_cfunc


def _compile_and_record(function, *args, **kwargs):
    compiled = _compile_cfunc(function, *args, **kwargs)
    _record_library(compiled._library)
    return compiled


native.compile_cfunc = _compile_and_record


def _build(sim, network: str):
    if network == "glif":
        import glif_network
        glif_network.build_brainpy(sim, 4000)
    else:
        import coba
        coba.build(sim)


def _name_sample(ip: int, where: str, starts: list) -> str:
    i = bisect.bisect_right(starts, ip) - 1
    if i >= 0 and ip - starts[i] < _FUNCTIONS[starts[i]][0]:
        return _FUNCTIONS[starts[i]][1]
    # perf names anonymous executable memory after the map file it would read
    if "perf-" in where or "[JIT]" in where or "unknown" in where:
        return "XLA kernels (JIT code)"
    library = os.path.basename(where.strip("()"))
    if library.startswith("libpython") or library.startswith("_multiarray"):
        return "Python, NumPy"
    return {"libjax_common.so": "XLA runtime", "[kernel.kallsyms]": "kernel"}.get(
        library, library)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", choices=("glif", "coba"), default="glif",
                        help="benchmarks/glif_network.py (N = 4000) or benchmarks/coba.py")
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32")
    parser.add_argument("--repeats", type=int, default=4, help="runs of 1 s sampled")
    parser.add_argument("--frequency", type=int, default=10000, help="samples/s per thread")
    parser.add_argument("--top", type=int, default=10, help="rows per thread")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("thread_profile.py needs Linux perf (Debian: apt install linux-perf)")

    import pynn_brainpy as sim
    sim.setup(timestep=STEP_MS, precision=args.precision, rng_seed=1, progress_bar=False,
              **({} if args.network == "glif" else dict(min_delay=0.1, max_delay=10.0)))
    _build(sim, args.network)
    sim.run(1000.0)                       # compiles (numba and XLA)
    sim.reset()
    for library in (cres.library for cres in _ring_worker._serve.overloads.values()):
        _record_library(library)

    data = os.path.join(_SCRATCH, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-q", "-F", str(args.frequency), "-p",
                             str(os.getpid()), "-o", data], stderr=subprocess.DEVNULL)
    time.sleep(1.0)                       # perf attaches
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sim.run(1000.0)
        times.append(time.perf_counter() - t0)
        sim.reset()
    perf.send_signal(signal.SIGINT)
    perf.wait()
    sim.end()
    if not os.path.exists(data):
        sys.exit("perf recorded nothing: is sampling this process allowed "
                 "(/proc/sys/kernel/perf_event_paranoid <= 2)?")

    script = subprocess.run(["perf", "script", "-i", data, "-F", "tid,ip,dso"],
                            capture_output=True, text=True).stdout
    starts = sorted(_FUNCTIONS)
    samples, per_thread = collections.Counter(), collections.Counter()
    for line in script.splitlines():
        fields = line.split(None, 2)
        if len(fields) < 2:
            continue
        tid, ip = fields[0], int(fields[1], 16)
        samples[tid, _name_sample(ip, fields[2] if len(fields) > 2 else "", starts)] += 1
        per_thread[tid] += 1
    steps = args.repeats * round(1000.0 / STEP_MS)
    us_per_sample_step = 1e6 / args.frequency / steps
    print(f"{args.network} network, {args.precision}, {args.repeats} x 1 s sampled at "
          f"{args.frequency} Hz (runs took {', '.join(f'{t:.2f}' for t in times)} s while "
          "sampled); µs per simulated step:")
    for tid, total in per_thread.most_common():
        rows = sorted(((c, name) for (t, name), c in samples.items() if t == tid),
                      reverse=True)
        if total * us_per_sample_step < 1.0:
            continue
        top = rows[0][1]
        label = ("ring worker" if any(n == "_serve" for _, n in rows[:3])
                 else "Python's thread" if top == "Python, NumPy"
                 else "XLA's thread" if any("XLA" in n for _, n in rows[:6]) else "thread")
        print(f"\n{label} (tid {tid}): {total * us_per_sample_step:.1f} µs per step")
        for count, name in rows[:args.top]:
            print(f"  {count * us_per_sample_step:7.1f}  {name}")


if __name__ == "__main__":
    main()
