r"""A model's quiet step as one native CPU loop over its neurons (numba, called by XLA).

A *quiet* step is one in which every neuron's first RKF45 trial covers the whole step with
an error ratio below 0.5 (:func:`rkf45.advance`'s fast path): no step-size control, no
sub-steps, ``5·h`` carried as the next sub-step. It is nearly every step of a network. XLA
compiles such a step into a few dozen loops over the population, each reading its inputs
from memory and writing its result back; a native loop takes each neuron through the whole
step in registers. A neuron whose step is not quiet keeps its state and is marked; the model
then runs its XLA step on the marked neurons (the state is updated in place: XLA passes the
same buffers in and out).

This module holds what the models' loops share; each model writes its own body
(``models._glif_native``, ``models._iaf_native``):

* :class:`Layout`: the loop's arguments — per-neuron state ((N,) rows, or (rows, N) arrays
  read flat), constants (one value per row, or one per neuron and row: *heterogeneous*),
  the step ``h``, the tableau — and its results;
* :class:`Writer`: the body's source, with the Fehlberg trial of ``V`` written out
  (:meth:`Writer.fehlberg_v`) in GSL's order of operations, as :mod:`.rkf45` computes it;
* :func:`compile_loop`: the loop and its FFI handler written as a module (content-addressed
  in a cache directory, so numba keeps the machine code on disk for later processes), the
  handler registered with XLA, handler and loop compiled in a background thread while XLA
  compiles (the handler waits for the loop at its first call;
  :func:`.native.check_compiled` raises if either failed);
* :func:`call`: the XLA call.

Every neuron's arithmetic is written out so that LLVM vectorises the loop over neurons; the
expressions are those of the XLA code in the same order. A neuron's step is a long chain of
dependent operations (the six Fehlberg stages), so the loop is bound by the chain's latency
rather than by arithmetic throughput; where the CPU has AVX2 the loops are compiled 32
neurons wide (:func:`.native.wide_vector_width`; LLVM's own choice was 8 floats or 4 doubles
per iteration), which keeps enough independent work in flight: GLIF5 at N = 10⁴ took 9.7
instead of 18.0 ns per neuron-step in float64, 4.5 instead of 7.0 in float32 (session 10's
machine, ``benchmarks/neuron_update.py``; docs/performance.md). In float64 the loops round every
operation separately, as NEST does (GSL's order, no fused multiply-adds, true divisions), so
they keep its results bit for bit; they agree with XLA's step up to XLA's fused multiply-adds.
In float32, which makes no such promise, the loops let LLVM fuse multiply-adds (numba's
``contract`` flag), a model may divide by a constant as a multiplication by its
reciprocal (:meth:`Writer.quotient`), the Fehlberg sums take ``h`` into the tableau's
weights before the loop (:meth:`Writer.fehlberg_v`) and a model may sum what its stages
share once (glif_cond's ``E_L − E_rev`` and drive): each changes a result by about a
rounding of the float type; the first two shortened the step of 4000 GLIF5 neurons with
Poisson drive in float32 from a median 58.5 to 46.2 µs on session 9's machine
(docs/performance.md).

A loop over at least :data:`SPLIT_FROM` neurons runs in two halves, the second offered to
the ring worker's thread, a second core (:func:`._ring_worker.loop_in_halves`), split where
both take about as long (learnt per loop while it runs: the worker's half starts later); the
loop is a native function ``half`` over a range of neurons, called with views that start at the
range's first neuron (a loop that took its views from an offset itself was not vectorised
by LLVM, and one that returned its count of not-quiet neurons instead of storing it ran
slower: scratch timings, figures in issue 5's session-11 note).
"""

import functools
import hashlib
import os
import tempfile
from typing import Callable, Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from numba import types

from . import native, rkf45, warmup

__all__ = ["Layout", "Writer", "available", "call", "compile_loop",
           "is_heterogeneous", "largest_quiet_error", "redo_loud",
           "tableau", "with_next_current", "ENABLED", "SPLIT_FROM", "SPLIT_ALIGN"]

#: ``PYNN_BRAINPY_NATIVE=0`` in the environment turns the native loops off (the XLA step
#: then runs every time), for comparisons.
ENABLED = os.environ.get("PYNN_BRAINPY_NATIVE", "1") != "0"

#: Loops over at least this many neurons run their second half on the ring worker's thread
#: (:func:`._ring_worker.loop_in_halves`), split at a multiple of :data:`SPLIT_ALIGN` neurons
#: (whole vector iterations and cache lines on each side).
SPLIT_FROM, SPLIT_ALIGN = 1024, 64


def _ring_worker_enabled() -> bool:
    from . import _ring_worker
    return _ring_worker.ENABLED


def available(dtype) -> bool:
    """Whether native loops run here: enabled, on the CPU, float32 or float64, with jaxlib's
    FFI header."""
    return (ENABLED and jax.default_backend() == "cpu"
            and np.dtype(dtype).name in ("float32", "float64")
            and native.api_version() is not None)


# ------------------------------------------------------------------ the tableau
def _fehlberg_rows() -> np.ndarray:
    """Fehlberg's coefficients as rkf45 uses them: row 0 a_2, rows 1..4 b_sj of stages 3..6,
    row 5 the solution's c_j, row 6 the error's e_j (6 per row, flat)."""
    t = np.zeros((7, 6))
    t[0, 0] = rkf45._A2
    for row, coefs in enumerate((rkf45._B3, rkf45._B4, rkf45._B5, rkf45._B6), start=1):
        t[row, :len(coefs)] = coefs
    t[5] = (rkf45._C1, 0.0, rkf45._C3, rkf45._C4, rkf45._C5, rkf45._C6)
    t[6] = (rkf45._EC1, 0.0, rkf45._EC3, rkf45._EC4, rkf45._EC5, rkf45._EC6)
    return t.ravel()


# positions in the tableau after Fehlberg's 42 numbers
_ZERO, _FIVE, _HALF, _EMAX = 42, 43, 44, 45


def largest_quiet_error(eps_abs: float, dtype) -> float:
    """The largest ``e`` with ``e / eps_abs < 0.5`` in ``dtype`` (rkf45's quiet test): a
    comparison with it decides exactly as the division does (division by a positive number
    rounds monotonically) and costs no division."""
    t = np.dtype(dtype).type
    eps, half = t(eps_abs), t(0.5)
    e = half * eps
    while e / eps >= half:
        e = np.nextafter(e, t(0))
    while np.nextafter(e, t(np.inf)) / eps < half:
        e = np.nextafter(e, t(np.inf))
    return float(e)


def tableau(eps_abs: float, dtype) -> np.ndarray:
    """The loop's numbers, passed in the float type (JAX rounds Python constants): Fehlberg's
    coefficients (:func:`_fehlberg_rows`), then 0, 5 (the fast path's growth of ``H``), 0.5
    and the largest quiet error."""
    return np.append(_fehlberg_rows(), (0.0, 5.0, 0.5, largest_quiet_error(eps_abs, dtype)))


# ------------------------------------------------------------------ the loop's arguments
class Layout:
    """A loop's arguments and results.

    ``state``: per-neuron inputs in order; ``in_place``: those the loop also writes (their
    buffers are results, aliased); ``extra``: the results that are not state; ``constants``:
    ``{name: rows}``; ``rows``: ``{name: rows}`` of the (rows, N) state arrays (the others
    are (N,)); ``integer``: names of int32 arrays. ``loud`` (one int32: how many neurons'
    steps were not quiet) is always the last result.

    The loop's signature is ``(n, stride, *state, *constants, h, tab, *extra_o, loud_o)``:
    ``n`` neurons, each row of a (rows, N) array ``stride`` numbers after the last.
    """

    def __init__(self, state: Sequence[str], in_place: Sequence[str], extra: Sequence[str],
                 constants: Dict[str, int], rows: Dict[str, int], integer: Sequence[str]):
        self.state, self.in_place = tuple(state), tuple(in_place)
        self.results = (*self.in_place, *extra, "loud")
        self.constants, self.rows = dict(constants), dict(rows)
        self.integer = frozenset(integer) | {"loud"}
        outputs = [f"{r}_o" for r in self.results if r not in self.in_place]
        self.arguments = (*self.state, *self.constants, "h", "tab", *outputs)

    def shape(self, name: str, n: int) -> tuple:
        if name == "loud":
            return (1,)
        return (self.rows[name], n) if name in self.rows else (n,)

    def kind(self, name: str, dtype):
        return jnp.int32 if name in self.integer else dtype


# ------------------------------------------------------------------ the loop's source
class Writer:
    """The source of one loop: lines before the loop over ``i`` (views, constants) and its
    body. ``heterogeneous``: every constant has a row per neuron (else one value per row,
    read before the loop). ``exact``: every division stays a division (float64; see the
    module docstring)."""

    def __init__(self, heterogeneous: bool, exact: bool = True):
        self.heterogeneous, self.exact = heterogeneous, exact
        self.before, self.body = [], []
        self._reciprocals = set()

    def add(self, line: str):
        self.body.append("        " + line)

    def _once_before(self, line: str):
        """``line`` before the loop, once however often it is asked for."""
        line = "    " + line
        if line not in self.before:
            self.before.append(line)

    def view(self, name: str, row: int = 0) -> str:
        """Element ``i`` of row ``row`` of a (rows, N) array, through a view made before the
        loop: indexed by ``i`` alone, LLVM sees consecutive elements (``row·stride + i``,
        with numba's wrap-around of negative indices, it does not)."""
        local = f"{name}_r{row}"
        self._once_before(f"{local} = {name}[{row} * stride:{row} * stride + n]")
        return f"{local}[i]"

    def const(self, name: str, row: int = 0) -> str:
        if self.heterogeneous:
            return self.view(name, row)
        local = f"{name}_{row}"
        self._once_before(f"{local} = {name}[{row}]")
        return local

    def per_neuron_or_shared(self, name: str, shared: bool) -> str:
        """Element ``i`` of the input ``name``, or, where one value serves every neuron
        (``shared``), that value, read once before the loop."""
        if not shared:
            return f"{name}[i]"
        self._once_before(f"{name}_shared = {name}[0]")
        return f"{name}_shared"

    def quotient(self, numerator: str, name: str, row: int = 0) -> str:
        """``numerator / c`` for the constant ``name`` (row ``row``): a division where the
        Writer is ``exact``, else a product with ``1 / c``, computed once before the loop
        (or once per neuron, where the constants are per neuron)."""
        c = self.const(name, row)
        if self.exact:
            return f"({numerator}) / {c}"
        local = f"inv_{name}_{row}"
        if local not in self._reciprocals:
            self._reciprocals.add(local)
            line = f"{local} = one / {c}"
            if self.heterogeneous:
                self.add(line)
            else:
                self.before.append("    " + line)
        return f"({numerator}) * {local}"

    def fehlberg_v(self, derivative):
        """The whole-step Fehlberg trial of ``V`` from ``v0`` (:func:`rkf45._fehlberg`, stage
        sums left to right as GSL's): ``derivative(s)`` writes the lines that set ``k{s}``
        from ``vs``, ``V`` at stage ``s`` (0..5). Leaves ``hsol`` and ``herr``, ``h`` times
        the weighted sums: the step's change of ``V`` and its error estimate. Where the
        Writer is not ``exact``, ``h`` goes into the tableau's weights before the loop (one
        product per neuron and sum fewer)."""
        def weighted(row, ks):
            weight = "t" if self.exact else "ht"
            if not self.exact:
                for j in ks:
                    self._once_before(f"ht{row + j} = h * t{row + j}")
            terms = f"{weight}{row + ks[0]} * k{ks[0]}"
            for j in ks[1:]:
                terms = f"({terms} + {weight}{row + j} * k{j})"
            return f"h * {terms}" if self.exact else terms

        for s in range(6):
            if s == 0:
                self.add("vs = v0")
            elif s == 1:
                self.add("vs = v0 + a2h * k0")
            else:
                self.add(f"vs = v0 + {weighted(6 * (s - 1), list(range(s)))}")
            derivative(s)
        for name, row in (("hsol", 30), ("herr", 36)):
            self.add(f"{name} = {weighted(row, [0, 2, 3, 4, 5])}")

    def source(self, layout: Layout) -> str:
        """The loop ``quiet(n, stride, ...)`` (see :class:`Layout`); the body counts the
        neurons whose step is not quiet in ``loud``."""
        head = [f"def quiet(n, stride, {', '.join(layout.arguments)}):",
                f"    zero = tab[{_ZERO}]",
                f"    half = tab[{_HALF}]",
                "    one = half + half",
                f"    emax = tab[{_EMAX}]",
                f"    grown = tab[{_FIVE}] * h",
                "    a2h = tab[0] * h",
                "    loud = 0"] + [f"    t{j} = tab[{j}]" for j in range(42)]
        # loud goes out through memory: a loop that returned it ran slower (module docstring)
        return "\n".join(head + self.before + ["    for i in range(n):"] + self.body +
                         ["    loud_o[0] = loud"]) + "\n"


def _module_source(loop: str, layout: Layout, dtype_name: str) -> str:
    """A module with the loop, ``half(words)``, which runs it on the neurons ``words[1] …
    words[2] − 1`` of the XLA call frame at ``words[0]`` and leaves ``loud`` in
    ``words[3]`` (:func:`._ring_worker.loop_in_halves`), and the FFI handler for floats of
    ``dtype_name``, which runs ``half`` on all neurons or, from :data:`SPLIT_FROM` on, on
    each half, one of them on the ring worker's thread. Each argument is read from XLA's
    buffers (an in-place state from its result buffer, the same memory), as a view that
    starts at the first neuron; (rows, N) arrays as flat arrays of rows·N numbers.
    ``HALF_SYMBOL`` in the source stands for the symbol under which the handler finds
    ``half`` (:func:`_compile_source`)."""
    floats = f"np.{dtype_name}"
    fused = ', fastmath={"contract"}' if dtype_name == "float32" else ""
    n_inputs = layout.arguments.index("tab") + 1
    values = []
    for i, name in enumerate(layout.arguments):
        result = name.removesuffix("_o") if i >= n_inputs else name
        table, at = (("RETS", layout.results.index(result))
                     if i >= n_inputs or name in layout.in_place else ("ARGS", i))
        kind = "np.int32" if result in layout.integer else floats
        whole = f"vector(buffer(frame, {table}, {at}), {kind})"
        if name == "loud_o":
            value = "task[3:]"
        elif name in ("h", "tab"):
            value = whole + "[0]" if name == "h" else whole            # h, a number
        elif name in layout.constants:
            value = f"rows_from({whole}, first, {layout.constants[name]}, n)"
        elif result in layout.rows:
            value = (f"data(buffer(frame, {table}, {at}), {layout.rows[result]} * n, "
                     f"{kind})[first:]")
        else:
            value = f"neurons_from({whole}, first, end, n)"
        values.append(value)
    call_args = ",\n          ".join(values)
    split_from = SPLIT_FROM if _ring_worker_enabled() else 2 ** 62
    return (f'''"""A quiet step generated by pynn_brainpy.engine.native_loop."""
import numba
import numpy as np
from pynn_brainpy.engine.native import ARGS, RETS, buffer, data, \\
    done, extern_address, extern_word, frame_at, frame_of, integer_address, neurons_from, \\
    rows_from, usleep, vector, words
from pynn_brainpy.engine._ring_worker import control_address, loop_in_halves, split_at


@numba.njit(error_model="numpy", boundscheck=False, cache=True{fused})
{loop}

def half(address):
    task = words(address, 4)
    frame, first, end = frame_at(task[0]), task[1], task[2]
    n = vector(buffer(frame, ARGS, 0), {floats}).shape[0]
    quiet(end - first, n,
          {call_args})


def handler(frame_address):
    frame = frame_of(frame_address)
    half = extern_word("HALF_SYMBOL")
    while half == 0:                # still being compiled by another thread
        usleep(200)
        half = extern_word("HALF_SYMBOL")
    if half < 0:                    # its compilation failed: the run raises the error
        return done()
    n = vector(buffer(frame, ARGS, 0), {floats}).shape[0]
    share = extern_address("HALF_SYMBOL_share") if n >= {split_from} else 0
    middle = split_at(n, share, {SPLIT_ALIGN}) if share != 0 else 0
    loud = loop_in_halves(control_address(), half, integer_address(frame_address), n,
                          middle, share)
    vector(buffer(frame, RETS, {layout.results.index("loud")}), np.int32)[0] = loud
    return done()
''')


def _cache_dir() -> str:
    """Where generated modules (and numba's machine code for them) are kept."""
    root = os.environ.get("PYNN_BRAINPY_CACHE",
                          os.path.join(os.path.expanduser("~"), ".cache", "pynn_brainpy"))
    path = os.path.join(root, "native")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    return tempfile.mkdtemp(prefix="pynn_brainpy_native_")


@functools.lru_cache(maxsize=None)
def _compile_source(prefix: str, source: str) -> str:
    width = native.wide_vector_width()
    # the width is not in numba's cache key: it goes into the module's source (and name)
    source = f"# LLVM loop vector width: {width or 'its own choice'}\n{source}"
    symbol = f"pynn_brainpy_half_{hashlib.sha1(source.encode()).hexdigest()[:16]}"
    source = source.replace("HALF_SYMBOL", symbol)
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    name = f"{prefix}_{digest}"
    path = os.path.join(_cache_dir(), name + ".py")
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}"
        with open(partial, "w") as f:
            f.write(source)
        os.replace(partial, path)          # whole or absent, never half written
    module = native.import_generated(path)
    # the loop first: its symbol is defined at once, and the handler's machine code refers to
    # it (the handler waits for the loop's address at its first call). The loop reads some 25
    # arrays: the vectoriser needs more overlap checks than LLVM allows by default; each
    # neuron's step is a long chain of dependent operations (the Fehlberg stages), and LLVM's
    # own width (8 floats or 4 doubles here) keeps too few neurons in flight to hide the
    # chain's latency (module docstring)
    native.compile_in_background(symbol, module.half, types.void(types.int64),
                                 memory_checks=1024, vector_width=width)
    from . import _ring_worker
    # where the loop splits, learnt while it runs (_ring_worker.loop_in_halves); even first
    native.export_word(f"{symbol}_share", _ring_worker.SHARE_UNIT // 2)
    # the handler's compilation, the shorter, goes to warmup's second process, if one runs
    return native.register(f"pynn_brainpy_{name}", module.handler,
                           item=warmup.LOOP_HANDLER + path)


def compile_loop(prefix: str, loop: str, layout: Layout, dtype_name: str) -> str:
    """The registered XLA target of ``loop`` (:meth:`Writer.source`) for floats of
    ``dtype_name``, compiled on first use; ``prefix`` names the module file. The module is
    written once, content-addressed, so that numba finds its machine code on disk in later
    processes."""
    return _compile_source(prefix, _module_source(loop, layout, dtype_name))


def with_next_current(state: dict) -> tuple:
    """``state`` with ``I_next``, the current a loop buffers for the next step (where none
    is given, ``I`` is kept), and whether one value of it serves every neuron."""
    if state.get("I_next") is None:
        state = {**state, "I_next": state["I"]}
    return state, int(np.size(state["I_next"])) == 1


def is_heterogeneous(constants: dict, layout: Layout, n: int) -> bool:
    """Whether some constant has a value per neuron (the loop then reads every constant per
    neuron: two compilations per model, not one per mix of shared and per-neuron values)."""
    return n > 1 and any(np.size(constants[k]) == rows * n
                         for k, rows in layout.constants.items())


def call(target: str, layout: Layout, state: dict, constants: dict, heterogeneous: bool,
         h: float, eps_abs: float) -> Dict[str, jax.Array]:
    """Run the loop ``target`` on ``state`` (every name of ``layout.state``: (N,) rows or
    (rows, N) arrays) with ``constants`` (``{name: value}``, one value per row, or per row
    and neuron). Returns the results by name, ``loud`` as a 0-d int32; the in-place states'
    buffers are updated in place."""
    V = state[layout.state[0]]
    n, dtype = V.shape[0], V.dtype
    if n >= SPLIT_FROM and _ring_worker_enabled():
        from . import _ring_worker
        _ring_worker.start()            # takes the second halves from now on
    args = [jnp.asarray(state[name], layout.kind(name, dtype)) for name in layout.state]
    for name, rows in layout.constants.items():
        value = jnp.asarray(constants[name], layout.kind(name, dtype))
        if heterogeneous:
            value = jnp.broadcast_to(value.reshape(rows, -1), (rows, n))
        args.append(value.reshape(-1))
    args += [jnp.full((1,), h, dtype), jnp.asarray(tableau(eps_abs, dtype), dtype)]
    shapes = [jax.ShapeDtypeStruct(layout.shape(r, n), layout.kind(r, dtype))
              for r in layout.results]
    aliases = {layout.state.index(r): layout.results.index(r) for r in layout.in_place}
    out = jax.ffi.ffi_call(target, shapes, input_output_aliases=aliases)(*args)
    result = dict(zip(layout.results, out))
    result["loud"] = result["loud"][0]
    return result


def redo_loud(fast: dict, xla_step: Callable[[dict], dict]) -> dict:
    """The step's results from the loop's (:func:`call`, with ``loud_mask`` and ``loud``),
    where some neuron's step was not quiet completed by the model's XLA step:
    ``xla_step(fast)`` steps from the state the loop left (the marked neurons' untouched)
    and gives every name of ``fast``; the marked neurons take its results (in the loop's
    types: a bool spike of the XLA step becomes the loop's 0/1 float). It runs in a loop
    of 0 or 1 rounds: a cond would copy the loop's results into its outputs every step."""
    fast = dict(fast)
    loud, mask = fast.pop("loud"), fast.pop("loud_mask")

    def xla_round(carry):
        # everything that only the marked neurons need is computed in here: outside, XLA
        # would run it (a kernel each) in every step
        new, _ = carry
        xla, redo = xla_step(new), mask > 0
        return ({k: jnp.where(redo, xla[k].astype(v.dtype), v) for k, v in new.items()},
                jnp.zeros_like(loud))

    new, _ = jax.lax.while_loop(lambda carry: carry[1] > 0, xla_round, (fast, loud))
    return new
