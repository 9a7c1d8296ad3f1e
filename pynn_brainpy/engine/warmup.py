"""A first run's native code, compiled in a second process while this one imports and builds.

numba compiles the connections' sort, the recorded spikes' scan, the delivery handlers and the
ring worker's thread once per installation and keeps them on disk. At the first run of an
installation that was ~8 s of one core after the network was traced, most of the run's
build and compilation: numba's compiler is Python and holds Python's lock, so it cannot
overlap this process's Python. None of it depends on the network (a delivery handler only on
its float type), so :func:`start`, called as pynn_brainpy is imported, launches a second
Python process where numba's disk cache lacks it, which compiles it on the other core while
this process imports PyNN and JAX, builds and traces (one core busy). Before this process
would compile an item it asks for it (:func:`request`: the second process takes it next) and
waits for its report (:func:`wait_for`); numba then loads the machine code from disk. An
item the second process did not compile (it failed, or ended) this process compiles itself,
as without it. Once the network is traced, the second process also compiles each new neuron
loop's FFI handler while this process compiles the loop (:data:`LOOP_HANDLER`).

The second process imports numba and the native modules only (not the package, which imports
PyNN and JAX). It compiles the items named on its command line in order: the sort and the
scan, which every network uses (:data:`FIRST`), then the ring worker's thread and join
handler (:data:`GUESSED`: most of the worker's code, used by every network whose delays are
two steps or more) unless a request for the synchronous delivery handler came first.
Requests (``need ITEM`` lines on its standard input) go first. It reports each item on its
standard output (``done``, ``failed`` or ``skipped ITEM``) and ends when its standard input
closes (this process ended).

``PYNN_BRAINPY_WARMUP=0`` in the environment: no second process.
"""

import os
import queue
import subprocess
import sys
import threading
from typing import List, Optional

import numpy as np

__all__ = ["start", "request", "wait_for", "items_used", "compile_item", "serve", "FIRST",
           "GUESSED", "SYNCHRONOUS", "WORKER", "LOOP_HANDLER"]

#: Items every network uses, compiled first: the connections' sort (needed while the network
#: is built) and the recorded spikes' scan (after a run).
FIRST = ("order", "nonzero")
#: Then the ring worker's thread and join handler, unless a request for a delivery handler
#: that did not ask for them came first.
GUESSED = ("serve", "pynn_brainpy_event_ring_join")
#: The synchronous delivery handler, compiled when asked for (its XLA target's name).
SYNCHRONOUS = "pynn_brainpy_event_ring"
#: The ring worker's delivery handler for floats of one type: ``WORKER + dtype name``.
WORKER = "pynn_brainpy_event_ring_worker_"
#: The FFI handler of a generated neuron loop (:mod:`.native_loop`): ``LOOP_HANDLER +`` the
#: module's path. This process compiles the loop itself meanwhile, the longer of the two.
LOOP_HANDLER = "loop_handler:"
_FLOAT_TYPES = ("float32", "float64")
#: The longest wait for one item (s); then this process compiles it itself.
_PATIENCE = 300.0

# the second process's Python: the package and the engine as bare namespaces, so that
# importing the native modules does not import PyNN and JAX
_BOOT = """import sys, types
if sys.path and sys.path[0] == "":
    del sys.path[0]
for name, path in zip(("pynn_brainpy", "pynn_brainpy.engine"), sys.argv[1:3]):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from pynn_brainpy.engine import warmup
sys.exit(warmup.serve(sys.argv[3:]))
"""


# ---------------------------------------------------------------- the items
def _function(item: str):
    """The Python function whose machine code ``item`` is (named as numba caches it)."""
    from . import _event_handler, _ring_worker, connection_order, native
    if item == "order":
        return connection_order.order_by_row_then_key.py_func
    if item == "nonzero":
        return native.nonzero_bytes.py_func
    if item == "serve":
        return _ring_worker._serve.py_func
    if item.startswith(LOOP_HANDLER):
        return native.named_handler(
            native.import_generated(item[len(LOOP_HANDLER):]).handler)
    handlers = {SYNCHRONOUS: _event_handler._ring_handler,
                "pynn_brainpy_event_ring_join": _ring_worker.join_handler,
                WORKER + "float32": _ring_worker.handler_f32,
                WORKER + "float64": _ring_worker.handler_f64}
    return native.named_handler(handlers[item])


def compile_item(item: str) -> None:
    """Compile ``item`` as a network's first use of it would (the same signature), into
    numba's disk cache (or load it from there)."""
    from numba import types

    from . import _ring_worker, connection_order, native
    if item == "order":
        connection_order.order_by_row_then_key(np.zeros(0, np.int64), np.zeros(0, np.int64),
                                               np.zeros(1, np.int32))
    elif item == "nonzero":
        flat = np.zeros(64, np.uint8)
        flat.flags.writeable = False         # as recorded spikes come back from JAX
        native.nonzero_bytes(flat)
    elif item == "serve":
        _ring_worker._serve.compile((types.int64,))
    else:
        native.compile_cfunc(_function(item), native.HANDLER_SIGNATURE)


def _cached(item: str) -> bool:
    """Whether numba's disk cache holds machine code of ``item`` for its current source; True
    where that cannot be told (this process then compiles it, as without a second one)."""
    from numba.core.caching import FunctionCache
    try:
        return bool(FunctionCache(_function(item))._cache_file._load_index())
    except Exception:       # noqa: BLE001 -- numba's internals moved: no second process
        return True


def items_used() -> List[str]:
    """The items this installation may use."""
    from . import _ring_worker, native
    if native.api_version() is None:
        return list(FIRST)
    worker = list(GUESSED) + [WORKER + name for name in _FLOAT_TYPES]
    return list(FIRST) + [SYNCHRONOUS] + (worker if _ring_worker.ENABLED else [])


# ---------------------------------------------------------------- the second process
def _delivery_known(requested) -> bool:
    """Whether the first process asked for a delivery handler (so it knows which it needs)."""
    return any(item == SYNCHRONOUS or item.startswith(WORKER) for item in requested)


def serve(items: List[str]) -> int:
    """The second process: compile the requested items (read from standard input), else
    ``items`` in order (:data:`GUESSED` ones only while no other request came), reporting
    each on standard output."""
    asked: "queue.Queue[Optional[str]]" = queue.Queue()

    def read():
        for line in sys.stdin:
            asked.put(line.rstrip("\n").split(" ", 1)[-1])
        asked.put(None)

    threading.Thread(target=read, daemon=True).start()
    planned, needed, requested, compiled = list(items), [], set(), set()
    try:
        while True:
            try:
                message = asked.get(block=not (needed or planned))
            except queue.Empty:
                message = ""
            if message is None:                  # the first process ended
                return 0
            if message:
                needed.append(message)
                requested.add(message)
                continue                         # take in every request first
            item = needed.pop(0) if needed else planned.pop(0)
            if item in compiled:
                print("done", item, flush=True)
            elif item in GUESSED and item not in requested and _delivery_known(requested):
                print("skipped", item, flush=True)
            else:
                try:
                    compile_item(item)
                    compiled.add(item)
                    print("done", item, flush=True)
                except Exception:   # noqa: BLE001 -- the first process compiles it itself
                    print("failed", item, flush=True)
    except BrokenPipeError:                      # the first process ended
        return 0


# ---------------------------------------------------------------- this process
_CHANGED = threading.Condition()
_PROCESS: Optional[subprocess.Popen] = None
_OWNER = 0                   # the process that launched it (a fork's child asks nothing)
_ALIVE = False               # until it ends
_MISSING: set = set()        # items numba's disk cache lacks (loops' handlers once asked for)
_LOOPS_LOOKED_UP: set = set()
_UNSETTLED: set = set()      # items the second process will report
_REPORTED: set = set()       # items it compiled (or failed to)
_REQUESTED: set = set()


def start() -> None:
    """Launch the second process if numba's disk cache lacks an item it starts with
    (:data:`FIRST`, :data:`GUESSED`): a first run of this installation (or of a new version
    of its native code). Once per process. (Launched later, when the network is traced, it
    would only compete for the cores with XLA's compilation and the neuron loops'.)"""
    global _PROCESS, _OWNER, _ALIVE
    if _PROCESS is not None or os.environ.get("PYNN_BRAINPY_WARMUP", "1") == "0":
        return
    try:
        missing = [item for item in items_used() if not _cached(item)]
    except Exception:           # noqa: BLE001 -- no second process; compile as without it
        return
    planned = [item for item in FIRST + GUESSED if item in missing]
    if not planned or not sys.executable:
        return
    engine = os.path.dirname(os.path.abspath(__file__))
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, os.path.dirname(engine), engine, *planned],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
    except OSError:
        return
    with _CHANGED:
        _PROCESS, _OWNER, _ALIVE = process, os.getpid(), True
        _MISSING.update(missing)
        _UNSETTLED.update(planned)
    threading.Thread(target=_listen, args=(process,), name="pynn_brainpy warm-up listener",
                     daemon=True).start()


def _listen(process: subprocess.Popen) -> None:
    global _ALIVE
    for line in process.stdout:
        words = line.rstrip("\n").split(" ", 1)
        if len(words) != 2:
            continue
        report, item = words
        with _CHANGED:
            if report != "skipped":
                _REPORTED.add(item)
                _UNSETTLED.discard(item)
            elif item not in _REQUESTED:
                _UNSETTLED.discard(item)
            _CHANGED.notify_all()
    process.wait()
    with _CHANGED:                   # whatever it did not report this process compiles
        _ALIVE = False
        _MISSING.clear()
        _UNSETTLED.clear()
        _CHANGED.notify_all()


def request(item: str) -> bool:
    """Ask the second process to compile ``item`` next; whether it will report it (so
    :func:`wait_for` waits for it). False where there is no second process (any more) or
    numba's disk cache holds ``item``."""
    if not _ALIVE:
        return False                 # the common answer, without the lock
    with _CHANGED:
        if not _ALIVE or os.getpid() != _OWNER or item in _REPORTED:
            return False
        if item.startswith(LOOP_HANDLER) and item not in _LOOPS_LOOKED_UP:
            _LOOPS_LOOKED_UP.add(item)
            if not _cached(item):
                _MISSING.add(item)
        if item not in _MISSING:
            return False
        if item not in _REQUESTED:
            _REQUESTED.add(item)
            try:
                _PROCESS.stdin.write(f"need {item}\n")
                _PROCESS.stdin.flush()
            except (OSError, ValueError):    # it ended: this process compiles the item
                return False
            _UNSETTLED.add(item)
        return item in _UNSETTLED


def wait_for(item: str) -> None:
    """Return once the second process has compiled ``item`` (or failed to, or ended; at most
    :data:`_PATIENCE` s), asking for it first: numba then loads it from disk instead of
    compiling it. At once where there is no second process or numba's cache held ``item``."""
    if not request(item):
        return
    with _CHANGED:
        _CHANGED.wait_for(lambda: item not in _UNSETTLED, timeout=_PATIENCE)
