"""The second process that compiles a first run's native code (:mod:`pynn_brainpy.engine.warmup`):
what it compiles, in which order, and that the first process then only loads it."""

import json
import os
import subprocess
import sys

import pytest

from pynn_brainpy.engine import native, warmup

pytestmark = pytest.mark.skipif(native.api_version() is None,
                                reason="no XLA FFI C API header")


def _cache_files(cache):
    return [name for _, _, names in os.walk(cache) for name in names if name.endswith(".nbi")]


def test_second_process_compiles_requests_first_and_skips_the_worker_for_a_synchronous_network(
        tmp_path):
    engine = os.path.dirname(warmup.__file__)
    process = subprocess.Popen(
        [sys.executable, "-c", warmup._BOOT, os.path.dirname(engine), engine,
         *warmup.FIRST, *warmup.GUESSED],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)))
    # a network that delivers synchronously asks for that handler before the guesses start
    process.stdin.write(f"need {warmup.SYNCHRONOUS}\n")
    process.stdin.flush()
    reports = [process.stdout.readline().split() for _ in range(5)]
    process.stdin.close()                    # the first process ended: so does the second
    assert process.wait(timeout=60) == 0
    assert sorted(reports[:3]) == sorted([["done", "order"], ["done", "nonzero"],
                                          ["done", warmup.SYNCHRONOUS]])
    assert reports[3:] == [["skipped", item] for item in warmup.GUESSED]
    files = _cache_files(tmp_path)
    for name in ("order_by_row_then_key", "nonzero_bytes", "_ring_handler_ffi_api"):
        assert any(name in f for f in files), name
    assert not any("_serve" in f or "join_handler" in f for f in files)


_SCRIPT = """
import json, sys
import numpy as np
import pynn_brainpy as sim
from pynn_brainpy.engine import connection_order, native, warmup

sim.setup(timestep=0.1, precision="float32")
cells = sim.Population(40, sim.IF_cond_exp(), initial_values={"v": -60.0})
drive = sim.Population(40, sim.SpikeSourcePoisson(rate=400.0))
sim.Projection(drive, cells, sim.OneToOneConnector(),
               sim.StaticSynapse(weight=0.05, delay=0.3))    # three steps: the ring worker
cells.record("spikes")
sim.run(200.0)
spikes = [np.asarray(t).tolist() for t in cells.get_data().segments[0].spiketrains]
native.wait_for_compilations()
handlers = {f.__qualname__.split("_ffi_api")[0]: f.cache_hits for f in native._KEEP_ALIVE
            if "_ffi_api" in f.__qualname__}
print(json.dumps(dict(
    spikes=spikes, second_process=warmup._PROCESS is not None,
    reported=sorted(warmup._REPORTED), handlers=handlers,
    order_hits=sum(connection_order.order_by_row_then_key.stats.cache_hits.values()))))
"""


def _run(numba_cache, loops_cache, **env):
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, NUMBA_CACHE_DIR=str(numba_cache),
                                                PYNN_BRAINPY_CACHE=str(loops_cache), **env))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_a_first_run_loads_what_the_second_process_compiled(tmp_path):
    first = _run(tmp_path / "numba", tmp_path / "loops")
    assert first["second_process"]
    assert {"order", "nonzero", "serve", "pynn_brainpy_event_ring_join",
            warmup.WORKER + "float32"} <= set(first["reported"])
    assert any(item.startswith(warmup.LOOP_HANDLER) for item in first["reported"])
    # the delivery, join and loop handlers and the connections' sort: loaded from disk
    assert {"handler_f32", "join_handler", "handler"} <= set(first["handlers"])
    assert all(hits == 1 for hits in first["handlers"].values()), first["handlers"]
    assert first["order_hits"] == 1
    assert sum(map(len, first["spikes"])) > 0
    # with everything on disk: no second process, the same spikes
    again = _run(tmp_path / "numba", tmp_path / "loops")
    assert not again["second_process"]
    assert again["spikes"] == first["spikes"]
