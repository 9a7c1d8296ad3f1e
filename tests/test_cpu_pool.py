"""XLA's CPU thread pool: one thread by default, chosen when setup() starts JAX's backends."""

import os
import subprocess
import sys
import textwrap

import pytest

from pynn_brainpy import _cpu_pool

PROBE = textwrap.dedent("""
    import collections, os, warnings
    warnings.simplefilter("error")
    mask = os.sched_getaffinity(0)
    import pynn_brainpy as sim
    {call}
    names, masks_kept = collections.Counter(), True
    for t in os.listdir("/proc/self/task"):
        try:        # a thread may end meanwhile (not one of the pool's)
            with open(f"/proc/self/task/{{t}}/comm") as f:
                names[f.read().strip()] += 1
            masks_kept = masks_kept and os.sched_getaffinity(int(t)) == mask
        except (FileNotFoundError, ProcessLookupError):
            pass
    print(names["tf_XLAEigen"], masks_kept)
""")


def _probe(args="", call="sim.setup({args})"):
    code = PROBE.format(call=call.format(args=args))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    pool, masks_kept = out.stdout.split()
    return int(pool), masks_kept == "True"


pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                                reason="CPU affinity is Linux-only")


def test_setup_starts_one_pool_thread_and_restores_every_threads_cpus():
    assert _probe() == (1, True)


def test_models_without_pynn_choose_the_pool_too():
    assert _probe(call="sim.use_cpu_threads(1); import jax; jax.numpy.ones(3).sum()") == (1, True)


def test_cpu_threads_sets_the_pool_up_to_the_cpus_allowed():
    allowed = len(os.sched_getaffinity(0))
    assert _probe("cpu_threads=2") == (min(2, allowed), True)


def test_too_late_to_choose_warns():
    code = ("import jax, warnings, pynn_brainpy as sim; jax.devices()\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); sim.setup(cpu_threads=1)\n"
            "print(len(os.sched_getaffinity(0)) == 1 or any('keeps' in str(x.message) for x in w))")
    out = subprocess.run([sys.executable, "-c", "import os\n" + code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="cpu_threads"):
        _cpu_pool.use_cpu_threads(bad)
