"""A second CPU core: a step's synaptic events added while the next steps run, and halves of
the neuron loops.

A spike of step ``m`` with a delay of ``D`` steps lands in ring row ``m + D``, and the row that
step ``m + 1`` takes out is complete once the spikes of steps up to ``m + 1 − D_min`` are in.
So with ``D_min ≥ 2`` the events of the last ``K = D_min − 1`` steps are not needed yet when
a step's row is taken out: :func:`handler_f32` (:func:`handler_f64`) takes out the next row,
hands the step's spikes to a worker thread and returns, and the worker adds their events into
the ring while XLA's thread runs the next steps (neuron updates, sources, recording). Up to
``K`` batches (:data:`MAX_DEPTH` at most; the network chooses, :func:`reserve`) are in
flight, one per slot; a call first makes sure that the batch which last held its slot is in.

Each batch is added in :data:`PARTS` parts: part 0 the events aimed at the ring's columns
(targets) below a split column, part 1 the rest. The ring's rows rotate with the step, its
columns do not, so the parts of any two batches touch disjoint numbers and may run at the
same time. The network orders each row's entries part 0 first (:func:`.network._Block`), so
a part is one stretch of the row, found by bisection. A handler that has to wait adds the
parts still posted itself, so in a burst of spikes (a step's events can cost several steps'
worth of neuron updates) both cores add events, where a whole-batch hand-over left XLA's
thread idle until the worker was through.

Hand-over, all through one control block of int64 words (atomics: acquire/release, one CAS):

* Batches are numbered; batch ``b`` goes into slot ``b mod K``, which has one ticket per
  part, ``4·b + state``, state ``IDLE`` → ``POSTED`` (the handler, after writing the batch)
  → ``CLAIMED`` (whoever adds that part, by CAS) → ``IDLE``. ``NEXT[part]`` is the number of
  the next batch whose part to add: a part is claimed only when its batch is the next, so
  each part's batches are added one at a time and in order, and the batch number in the
  ticket keeps a slot reused meanwhile from being taken for an older batch.
* A handler that needs a batch with a part still ``POSTED`` claims it back and adds it
  itself: nothing ever waits for a thread that is asleep, descheduled or gone, only for one
  that is adding a part right now. The chunk's last call (:func:`join_handler`) adds
  whatever is left.
* A batch: the ring's address, size and row width, the step, the CSR arrays' addresses, the
  spiking senders as (index, count) pairs copied into its slot's spike list (XLA may reuse
  the counts' buffer once the handler returns; the CSR arrays and the ring live for the whole
  chunk).
* The ring must stay where it is between calls: each call checks that it receives the ring
  the last batch was posted with and otherwise sets ``ERROR`` (:func:`check` raises).

A ring position belongs to one part, and each part adds its events in the order of the
synchronous handler (:mod:`._event_handler`), so the ring holds the same numbers bit for
bit.

The worker also takes halves of the neuron loops (:mod:`.native_loop`): a loop over many
neurons offers its second half (:func:`loop_in_halves`), runs the first and then, if the
worker has not taken the second (it adds batches first), runs that too. Each neuron's step
is the same arithmetic wherever it runs. Where the halves are split is learnt per loop: a
caller that had to wait for the worker's half runs a little more itself the next time, one
that found the worker through runs a little less (in COBA the worker's half took the longer,
``benchmarks/thread_profile.py``: it starts later, and perhaps reads state last written on
the other core).

The worker spins while work comes (a step is tens of µs) and sleeps after 1–3 ms without
any (naps from 0.1 growing to 5 ms); a batch or half posted meanwhile is claimed back when
it is needed, so a sleeping worker costs speed, never correctness.
``PYNN_BRAINPY_RING_WORKER=0`` in the environment keeps the delivery synchronous and the
loops whole.
"""

import atexit
import contextlib
import os
import platform
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable

from . import warmup
from ._event_handler import add_events, take_out_next_row
from .native import (ARGS, RETS, _pointer, buffer, call_address, done,
                     export_word, extern_word, frame_of, next_nonzero, usleep, vector,
                     with_sources_digest, words)

__all__ = ["ENABLED", "PARTS", "batches", "check", "control_address", "halves", "handler_f32",
           "handler_f64", "join_handler", "loop_in_halves", "reserve", "split_at", "start",
           "turn", "SHARE_LEAST", "SHARE_STEP", "SHARE_UNIT"]

ENABLED = os.environ.get("PYNN_BRAINPY_RING_WORKER", "1") != "0"

#: The parts a batch is added in (columns below / from the split column).
PARTS = 2
# words of the control block: a header, then one block of words per slot. The header: single
# words, two blocks of 4 words for a loop's halves (see loop_in_halves), one NEXT per part.
(STOP, ERROR, CAPACITY, LISTS, DEPTH, SPLIT, POSTED_COUNT, LAST_RING, BY_WORKER, BY_CALLER,
 TASK, TASK_FN, HALVES_BY_WORKER, HALVES_BY_CALLER, OFFERED_HALF) = range(15)
OWN_HALF = OFFERED_HALF + 4
NEXT = OWN_HALF + 4
_HEADER = NEXT + PARTS
# a slot: the batch, then its tickets (batch number · 4 + state), one per part
(RING, RING_SIZE, WIDTH, STEP, WEIGHTS, POSITIONS, INDPTR, NNZ, F64, SPIKING,
 TICKET) = range(11)
_SLOT_WORDS = TICKET + PARTS
#: A loop's split: the share of its elements its caller runs, in 1/SHARE_UNIT, between
#: SHARE_LEAST and SHARE_UNIT − SHARE_LEAST, moved by SHARE_STEP after each call
#: (:func:`loop_in_halves`).
SHARE_UNIT, SHARE_LEAST, SHARE_STEP = 1024, 64, 8
#: The most batches in flight (a network whose shortest delay is D steps uses min(D − 1,
#: MAX_DEPTH) slots).
MAX_DEPTH = 4
_WORDS = _HEADER + MAX_DEPTH * _SLOT_WORDS
IDLE, POSTED, CLAIMED = 0, 1, 2
# the states of the TASK word
FREE, WRITING, OFFERED, TAKEN, FINISHED = range(5)
#: The symbol under which native code finds the control block's address
#: (:func:`.native.extern_word`).
CONTROL_SYMBOL = "pynn_brainpy_worker_control"
_SPIN_TICKS = 5_000_000       # time-stamp counter ticks of spinning before sleeping: 1-3 ms
_FIRST_SLEEP_US, _LONGEST_SLEEP_US = 100, 5000


# ---------------------------------------------------------------- atomics on int64 words
def _word_pointer(builder, address):
    return builder.inttoptr(address, ir.IntType(64).as_pointer())


@intrinsic
def _load(typingctx, address):
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_word_pointer(builder, args[0]), "acquire", 8)
    return types.int64(types.int64), codegen


@intrinsic
def _store(typingctx, address, value):
    def codegen(context, builder, sig, args):
        builder.store_atomic(args[1], _word_pointer(builder, args[0]), "release", 8)
        return context.get_dummy_value()
    return types.void(types.int64, types.int64), codegen


@intrinsic
def _cas(typingctx, address, expected, new):
    """Compare-and-swap; True if the word held ``expected`` (and now holds ``new``)."""
    def codegen(context, builder, sig, args):
        result = builder.cmpxchg(_word_pointer(builder, args[0]), args[1], args[2],
                                 "acq_rel", "acquire")
        return builder.extract_value(result, 1)
    return types.boolean(types.int64, types.int64, types.int64), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64")


@intrinsic
def _pause(typingctx):
    """x86's spin-wait hint (nothing elsewhere)."""
    def codegen(context, builder, sig, args):
        if _X86:
            builder.call(cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _ticks(typingctx):
    """The processor's time-stamp counter (``llvm.readcyclecounter``)."""
    def codegen(context, builder, sig, args):
        return builder.call(cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter"), [])
    return types.int64(), codegen


# ---------------------------------------------------------------- the batch
@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def _first_of_part_1(positions, first, end, width, split):
    """The first of the entries ``first … end − 1`` (those aimed at columns below ``split``
    first) aimed at a column ``≥ split``, by bisection; ``end`` if none."""
    while first < end:
        middle = (first + end) // 2
        if positions[middle] % width < split:
            first = middle + 1
        else:
            end = middle
    return first


@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def _add_part(ring, weights, positions, indptr, index, count, spiking, step, width, split,
              part):
    """The synchronous handler's accumulation for the listed senders, only the entries aimed
    at columns below ``split`` (part 0) or from it on (part 1)."""
    base = (step % (ring.shape[0] // width)) * width
    for s in range(spiking):
        # int64 bounds for both parts: add_events compiles once per float type
        first, end = np.int64(indptr[index[s]]), np.int64(indptr[index[s] + 1])
        middle = _first_of_part_1(positions, first, end, width, split)
        if part == 0:
            add_events(ring, weights, positions, first, middle, count[s], base)
        else:
            add_events(ring, weights, positions, middle, end, count[s], base)


@numba.njit(nogil=True)
def _header(ctl):
    return numba.carray(_pointer(ctl), (_HEADER,), np.int64)


@numba.njit(nogil=True)
def _slot_address(ctl, batch, depth):
    return ctl + 8 * (_HEADER + (batch % depth) * _SLOT_WORDS)


@numba.njit(nogil=True)
def _spike_list(ctl, batch, depth):
    """The (index, count) list of the slot of ``batch``: 2 · CAPACITY words."""
    header = _header(ctl)
    capacity = header[CAPACITY]
    at = header[LISTS] + 8 * (batch % depth) * 2 * capacity
    return numba.carray(_pointer(at), (2 * capacity,), np.int64)


@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def _run_part(ctl, batch, depth, part):
    """Add part ``part`` of batch number ``batch``, described in its slot."""
    words = numba.carray(_pointer(_slot_address(ctl, batch, depth)), (_SLOT_WORDS,), np.int64)
    size, width, spiking, nnz = words[RING_SIZE], words[WIDTH], words[SPIKING], words[NNZ]
    capacity, split = _header(ctl)[CAPACITY], _header(ctl)[SPLIT]
    listed = _spike_list(ctl, batch, depth)
    index = listed[:spiking]
    counts = listed[capacity:capacity + spiking].view(np.float64)
    indptr = numba.carray(_pointer(words[INDPTR]), (capacity + 1,), np.int32)
    positions = numba.carray(_pointer(words[POSITIONS]), (nnz,), np.int32)
    if words[F64]:
        ring = numba.carray(_pointer(words[RING]), (size,), np.float64)
        weights = numba.carray(_pointer(words[WEIGHTS]), (nnz,), np.float64)
        _add_part(ring, weights, positions, indptr, index, counts, spiking, words[STEP], width,
                  split, part)
    else:
        # the counts back in float32, so that count · weight rounds as in the synchronous
        # handler
        ring = numba.carray(_pointer(words[RING]), (size,), np.float32)
        weights = numba.carray(_pointer(words[WEIGHTS]), (nnz,), np.float32)
        _add_part(ring, weights, positions, indptr, index, counts.astype(np.float32), spiking,
                  words[STEP], width, split, part)


@register_jitable         # called with constants: see native's readers
def _try_add(ctl, part, counter):
    """Add part ``part`` of the next batch for that part if it is posted and nobody claimed
    it (CAS on its ticket, which carries the batch number: a slot reused meanwhile cannot be
    taken for it); count it in ``counter``. True if this call added it."""
    depth = _header(ctl)[DEPTH]
    batch = _load(ctl + 8 * (NEXT + part))
    ticket = _slot_address(ctl, batch, depth) + 8 * (TICKET + part)
    if not _cas(ticket, 4 * batch + POSTED, 4 * batch + CLAIMED):
        return False
    _run_part(ctl, batch, depth, part)
    _header(ctl)[counter] += 1          # each counter has one writer
    _store(ticket, 4 * batch + IDLE)
    _store(ctl + 8 * (NEXT + part), batch + 1)
    return True


@numba.njit(nogil=True)
def _added_up_to(ctl, last):
    """Make sure batches up to ``last`` are in the ring: parts still posted are claimed back
    in order and added here (the last part first: the worker starts with the first); a part
    the worker is adding is waited for."""
    while True:
        behind = added = False
        for k in range(PARTS):
            part = PARTS - 1 - k
            if _load(ctl + 8 * (NEXT + part)) <= last:
                behind = True
                if _try_add(ctl, part, BY_CALLER):
                    added = True
                    break
        if not behind:
            return
        if not added:
            _pause()


@register_jitable         # called with constants: see native's readers
def _added_all_but(ctl, in_flight, ring_address):
    """Every posted batch but the last ``in_flight`` is in the ring (so the one that held the
    next slot, with ``in_flight = DEPTH - 1``, or all of them, with 0); ERROR if the last
    batch went to another ring than ``ring_address``."""
    header = _header(ctl)
    _added_up_to(ctl, header[POSTED_COUNT] - 1 - in_flight)
    if header[LAST_RING] != 0 and header[LAST_RING] != ring_address:
        _store(ctl + 8 * ERROR, 1)


# ---------------------------------------------------------------- a loop in two halves
# A loop over neurons (:mod:`.native_loop`) is one native ``half(words)`` that runs the
# elements ``words[1] … words[2] − 1`` of the XLA call frame at ``words[0]`` and leaves its
# result in ``words[3]``; the header holds two such blocks of words, the half offered to the
# worker (OFFERED_HALF) and the caller's own (OWN_HALF), both owned by the caller that holds
# the TASK word.
@numba.njit(nogil=True)
def control_address():
    """The control block's address, through a process symbol: not a constant in the machine
    code, which numba keeps on disk and a compiled program may reach a later process from
    JAX's cache."""
    return extern_word(CONTROL_SYMBOL)


@register_jitable         # called with constants: see native's readers
def _set_half(ctl, block, frame, first, end):
    header = _header(ctl)
    header[block], header[block + 1], header[block + 2] = frame, first, end


@numba.njit(nogil=True)
def split_at(n, share_address, align):
    """Where a loop over ``n`` elements splits: the caller's share (the int64 word at
    ``share_address``, in 1/SHARE_UNIT) of them, a multiple of ``align``."""
    return n * words(share_address, 1)[0] // (SHARE_UNIT * align) * align


@numba.njit(nogil=True)
def _move_share(share_address, step):
    share = words(share_address, 1)
    share[0] = min(max(share[0] + step, SHARE_LEAST), SHARE_UNIT - SHARE_LEAST)


@numba.njit(nogil=True)
def loop_in_halves(ctl, half, frame, n, middle, share_address):
    """The summed results of ``half`` over the elements ``0 … middle − 1`` (here) and
    ``middle … n − 1`` (offered to the worker; run here too if the worker has not taken it
    when this half is done, so nothing waits for a worker that sleeps). The whole loop runs
    here if ``middle`` is 0 or another thread's loop holds the task words. Where the worker
    ran its half, the loop's share word (:func:`split_at`; 0: none) moves towards the
    caller if it had to wait, away from it if the worker was through first."""
    if middle > 0 and _cas(ctl + 8 * TASK, FREE, WRITING):
        header = _header(ctl)
        header[TASK_FN] = half
        _set_half(ctl, OFFERED_HALF, frame, middle, n)
        _store(ctl + 8 * TASK, OFFERED)
        _set_half(ctl, OWN_HALF, frame, 0, middle)
        call_address(half, ctl + 8 * OWN_HALF)
        if _cas(ctl + 8 * TASK, OFFERED, TAKEN):
            call_address(half, ctl + 8 * OFFERED_HALF)
            header[HALVES_BY_CALLER] += 1
        else:
            waited = False
            while _load(ctl + 8 * TASK) != FINISHED:
                waited = True
                _pause()
            if share_address != 0:
                _move_share(share_address, SHARE_STEP if waited else -SHARE_STEP)
        result = header[OWN_HALF + 3] + header[OFFERED_HALF + 3]
        _store(ctl + 8 * TASK, FREE)
        return result
    words = np.array([frame, 0, n, 0], np.int64)
    call_address(half, words.ctypes.data)
    return words[3]


@numba.njit(nogil=True)
def _take_half(ctl):
    """The worker runs an offered half, if there is one. True if it did."""
    if _load(ctl + 8 * TASK) != OFFERED or not _cas(ctl + 8 * TASK, OFFERED, TAKEN):
        return False
    header = _header(ctl)
    call_address(header[TASK_FN], ctl + 8 * OFFERED_HALF)
    header[HALVES_BY_WORKER] += 1
    _store(ctl + 8 * TASK, FINISHED)
    return True


# ---------------------------------------------------------------- XLA handlers
@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def _post(ctl, counts, step, ring_address, ring_size, width, weights_address,
          positions_address, indptr_address, nnz):
    """List the spiking senders in the next batch's slot and post it (its floats those of
    ``counts``); ERROR (nothing posted) if the spike list has no room for every sender
    (:func:`reserve` was not called)."""
    header = _header(ctl)
    capacity, depth, batch = header[CAPACITY], header[DEPTH], header[POSTED_COUNT]
    if counts.shape[0] > capacity:
        _store(ctl + 8 * ERROR, 2)
        return
    listed = _spike_list(ctl, batch, depth)
    values = listed[capacity:].view(np.float64)
    spiking = 0
    i = next_nonzero(counts, 0)
    while i < counts.shape[0]:
        if counts[i] > 0:
            listed[spiking] = i
            values[spiking] = counts[i]
            spiking += 1
        i = next_nonzero(counts, i + 1)
    slot = _slot_address(ctl, batch, depth)
    words = numba.carray(_pointer(slot), (_SLOT_WORDS,), np.int64)
    words[RING], words[RING_SIZE], words[WIDTH], words[STEP] = (ring_address, ring_size,
                                                                 width, step)
    words[WEIGHTS], words[POSITIONS], words[INDPTR] = (weights_address, positions_address,
                                                       indptr_address)
    words[NNZ], words[F64], words[SPIKING] = nnz, counts.itemsize == 8, spiking
    header[POSTED_COUNT] = batch + 1        # the handlers' word: the worker does not read it
    header[LAST_RING] = ring_address
    for part in range(PARTS):
        _store(slot + 8 * (TICKET + part), 4 * batch + POSTED)


@numba.njit(nogil=True)
def _hand_over(frame, element):
    """The delivery handlers' work for floats of type ``element``."""
    ctl = control_address()
    ring_buffer, arriving_buffer = buffer(frame, RETS, 0), buffer(frame, RETS, 1)
    ring_address = ring_buffer[3]
    _added_all_but(ctl, _header(ctl)[DEPTH] - 1, ring_address)
    step = vector(buffer(frame, ARGS, 4), np.int32)[0]
    counts_buffer, weights_buffer = buffer(frame, ARGS, 0), buffer(frame, ARGS, 1)
    addresses = (ring_address, weights_buffer[3], buffer(frame, ARGS, 2)[3],
                 buffer(frame, ARGS, 3)[3])
    _take_out_and_post(ctl, step, addresses, vector(counts_buffer, element),
                       vector(weights_buffer, element), vector(ring_buffer, element),
                       vector(arriving_buffer, element))


# One delivery handler per float type: a first run compiles only its network's (compiling
# the other's take-out and posting made a cold first run ~0.6 s longer).
def handler_f32(frame_address):
    """XLA_FFI_Error* handler(XLA_FFI_CallFrame*): arguments counts, weights, positions,
    indptr, step (int32, one element), ring (aliased with the first result); results ring,
    arriving; floats of one type, float32 here (:func:`handler_f64`). The batch that held
    this step's slot added, row ``(step + 1) mod L`` taken out and cleared, this step's
    spikes posted."""
    frame = frame_of(frame_address)
    _hand_over(frame, np.float32)
    return done()


def handler_f64(frame_address):
    """:func:`handler_f32` for float64."""
    frame = frame_of(frame_address)
    _hand_over(frame, np.float64)
    return done()


@numba.njit(error_model="numpy", boundscheck=False, nogil=True)
def _take_out_and_post(ctl, step, addresses, counts, weights, ring, arriving):
    take_out_next_row(ring, arriving, step)
    _post(ctl, counts, step, addresses[0], ring.shape[0], arriving.shape[0], addresses[1],
          addresses[2], addresses[3], weights.shape[0])


def join_handler(frame_address):
    """XLA_FFI_Error* handler(XLA_FFI_CallFrame*): argument ring (aliased with the result);
    the last batch of the chunk added."""
    frame = frame_of(frame_address)
    ctl = control_address()
    _added_all_but(ctl, 0, buffer(frame, RETS, 0)[3])
    _header(ctl)[LAST_RING] = 0             # the next chunk's ring may be elsewhere
    return done()


# ---------------------------------------------------------------- the worker thread
@numba.njit(nogil=True, cache=True)
@with_sources_digest
def _serve(ctl):
    """The worker: claim and add posted parts; spin for a few ms after the last one, then
    sleep in growing naps (a run's first batches are then claimed back by the handlers)."""
    last = _ticks()
    nap = _FIRST_SLEEP_US
    while _load(ctl + 8 * STOP) == 0:
        # batches first: a loop's half the caller runs itself if the worker is busy
        added = False
        for part in range(PARTS):
            added = _try_add(ctl, part, BY_WORKER) or added
        if not added:
            added = _take_half(ctl)
        if added:
            last = _ticks()
            nap = _FIRST_SLEEP_US
        elif _ticks() - last < _SPIN_TICKS:
            _pause()
        else:
            usleep(nap)
            nap = min(2 * nap, _LONGEST_SLEEP_US)


def _serve_once_compiled(ctl):
    """:func:`_serve`, once :mod:`.warmup`'s second process has compiled it (numba then loads
    it from disk); meanwhile the handlers add every batch themselves."""
    warmup.wait_for("serve")
    _serve(ctl)


class _Worker:
    """The control block, the spike list it points to, and the thread that serves it."""

    def __init__(self):
        self.control = np.zeros(_WORDS, np.int64)
        self.control[DEPTH] = 1
        self.spike_lists = np.zeros(MAX_DEPTH * 2, np.int64)
        self.lock = threading.Lock()
        self.thread = None

    @property
    def address(self) -> int:
        return self.control.ctypes.data

    def start(self):
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=_serve_once_compiled, args=(self.address,),
                                               name="pynn_brainpy ring worker", daemon=True)
                self.thread.start()

    def stop(self):
        self.control[STOP] = 1
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self.control[STOP] = 0


_WORKER = _Worker()
atexit.register(_WORKER.stop)       # before the control block is freed
export_word(CONTROL_SYMBOL, _WORKER.address)


def start() -> None:
    """Start the worker thread if it is not running (loops offer it halves from then on)."""
    _WORKER.start()


_TURN = threading.Lock()


@contextlib.contextmanager
def turn(n_senders: int, depth: int = 1, split: int = 0):
    """The worker for one chunk of one network (a chunk ends with :func:`join_handler`;
    wait for it inside): chunks of networks run from different Python threads take turns.
    Reserves room for ``n_senders``, lets ``depth`` batches be in flight and splits them at
    ring column ``split``."""
    with _TURN:
        reserve(n_senders, depth, split)
        yield


def reserve(n_senders: int, depth: int = 1, split: int = 0) -> None:
    """Room for ``n_senders`` spiking senders per batch, ``depth`` batches in flight (1 to
    :data:`MAX_DEPTH`; at most the shortest delay in steps minus one: a step's row must be
    complete when it is taken out), parts split at ring column ``split`` (the rows' entries
    aimed at columns below it must come first; the parts are even when about half the
    connections are); starts the worker. Called between chunks (no batch outstanding)."""
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be in [1, {MAX_DEPTH}], got {depth}.")
    w = _WORKER
    if w.control[CAPACITY] < n_senders:
        w.spike_lists = np.zeros(MAX_DEPTH * 2 * n_senders, np.int64)
        w.control[LISTS] = w.spike_lists.ctypes.data
        w.control[CAPACITY] = n_senders
    w.control[DEPTH] = depth
    w.control[SPLIT] = split
    w.start()


def halves() -> tuple:
    """How many loops' second halves the worker thread and their callers have run so far."""
    return int(_WORKER.control[HALVES_BY_WORKER]), int(_WORKER.control[HALVES_BY_CALLER])


def batches() -> tuple:
    """How many batch parts the worker thread and the handlers (claimed back) have added so
    far."""
    return int(_WORKER.control[BY_WORKER]), int(_WORKER.control[BY_CALLER])


_ERRORS = {1: "the ring buffer moved while the ring worker was adding events to it",
           2: "a step had more senders than the ring worker's spike list has room for"}


def check() -> None:
    """Raise if a handler found the ring moved between two calls or a batch had no room (the
    run's synaptic input is then not to be trusted)."""
    error = int(_WORKER.control[ERROR])
    if error:
        _WORKER.control[ERROR] = 0
        raise RuntimeError(f"pynn_brainpy: {_ERRORS[error]}; this run's synaptic input is "
                           "unreliable. Run with PYNN_BRAINPY_RING_WORKER=0 and please report "
                           "this.")
