r"""``glif_cond``'s quiet step as one native CPU loop (numba, called by XLA as an FFI handler).

A *quiet* step is one in which every neuron's first RKF45 trial covers the whole step with
an error ratio below 0.5 (:func:`rkf45.advance`'s fast path): no step-size control, no
sub-steps. It is nearly every step of a network. XLA compiles that step of
:meth:`glif_cond.update` into a few dozen loops over the population, each reading its
inputs from memory and writing its result back; here one loop takes each neuron through the
whole step in registers: the whole-step Fehlberg trial (:meth:`glif_cond._whole_step`,
conductance stages from their polynomials), the threshold and after-spike-current updates,
the spike test, the reset and the incoming conductance jumps — the same expressions in the
same order as the XLA code, so the results agree with it up to XLA's fused multiply-adds
(which this loop, like NEST, does not use). A neuron whose step is not quiet keeps its
state and is marked; where there is one, :meth:`glif_cond.update` runs the XLA step on the
state the loop left and takes the marked neurons' results from it. The state is updated in
place (XLA passes the same buffers in and out).

The loop is generated per combination of ports, after-spike currents, mechanisms, incoming
jumps, precision and population kind (homogeneous: constants read once; heterogeneous:
every constant per neuron), with every neuron's arithmetic written out so that LLVM
vectorises the loop over neurons. It is written to a cache directory as a module and
compiled by numba, which keeps the machine code on disk for later processes.
"""

import functools
import hashlib
import importlib.util
import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from ..engine import native, rkf45

__all__ = ["available", "quiet_step", "STATE", "RESULTS"]

#: The per-neuron inputs of the loop: (N,) rows, or (rows, N) for dg, g, asc and delta (read
#: by the handler as flat arrays, port- or current-major).
STATE = ("V", "dg", "g", "I", "asc", "asc_sum", "th_s", "th_v", "refr", "H", "delta")
#: The state the loop updates in place (its buffers are also results: XLA keeps a
#: population's state in the same buffers from step to step instead of copying the
#: loop's results into them, ~230 kB per step for the GLIF network's 3200 neurons).
IN_PLACE = ("V", "dg", "g", "asc", "asc_sum", "th_s", "th_v", "refr", "H")
#: Its results: the state after the step (unchanged for a neuron whose step was not quiet),
#: the spikes (0/1 in the float type), which neurons' steps were not quiet (int32 0/1) and
#: how many (one int32).
RESULTS = (*IN_PLACE, "spike", "loud_mask", "loud")

# step constants (glif_cond.constants) the loop reads, with their rows: 'P' ports, 'A'
# after-spike currents
_CONSTANTS = (("E_L", 1), ("G", 1), ("C_m", 1), ("I_e", 1), ("th_inf", 1), ("E_rev", "P"),
              ("alpha_p", "8P"), ("alpha_q", "8P"), ("kappa", "P"), ("ref_count", 1),
              ("d_s", 1), ("D_s", 1), ("th_spike_add", 1), ("f_v", 1), ("V_add", 1),
              ("V_reset", 1), ("c_asc", "A"), ("d_asc", "A"), ("D_asc", "A"),
              ("asc_amps", "A"), ("P_V", 1), ("P_th", 1), ("phi", 1), ("rho", 1))
_INTEGER = {"refr", "ref_count", "loud_mask", "loud"}
#: The loop's arguments in order (after the neuron count): state, constants, h, the
#: tableau, then the results that are not state (``_o``); int32 where :data:`_INTEGER`.
_ARGUMENTS = (*STATE, *(name for name, _ in _CONSTANTS), "h", "tab",
              *(f"{r}_o" for r in RESULTS if r not in IN_PLACE))


def _rows(rows, ports, n_asc):
    return {1: 1, "P": ports, "8P": 8 * ports, "A": n_asc}[rows]


def _state_rows(ports, n_asc):
    """Rows of the (rows, N) state arrays (``delta`` too, where it is given)."""
    return {"dg": ports, "g": ports, "asc": n_asc, "delta": ports}


def _tableau() -> np.ndarray:
    """Fehlberg's coefficients as rkf45 uses them: row 0 a_2, rows 1..4 b_sj of stages 3..6,
    row 5 the solution's c_j, row 6 the error's e_j (6 per row, flat), then the step's other
    numbers: 0, 5 (the fast path's growth of H) and 0.5; the caller appends the largest
    quiet error (:func:`_largest_quiet_error`). Passed in the float type, as JAX rounds
    Python constants."""
    t = np.zeros((7, 6))
    t[0, 0] = rkf45._A2
    for row, coefs in enumerate((rkf45._B3, rkf45._B4, rkf45._B5, rkf45._B6), start=1):
        t[row, :len(coefs)] = coefs
    t[5] = (rkf45._C1, 0.0, rkf45._C3, rkf45._C4, rkf45._C5, rkf45._C6)
    t[6] = (rkf45._EC1, 0.0, rkf45._EC3, rkf45._EC4, rkf45._EC5, rkf45._EC6)
    return np.append(t.ravel(), (0.0, 5.0, 0.5))


_ZERO, _FIVE, _HALF, _EMAX = 42, 43, 44, 45


def _largest_quiet_error(eps_abs: float, dtype) -> float:
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


def _source(ports, n_asc, flags, heterogeneous, delta):
    """Python source of the loop (see the module docstring); ``heterogeneous``: every
    constant has a row per neuron (else one value per row, read before the loop)."""
    R, ASC, A = flags
    P = ports
    before, body = [], []

    def view(name, row):
        # a row as a view made before the loop: indexed by i alone, LLVM sees consecutive
        # elements (row·n + i, with numba's wrap-around of negative indices, it does not)
        local = f"{name}_r{row}"
        line = f"    {local} = {name}[{row} * n:{row + 1} * n]"
        if line not in before:
            before.append(line)
        return f"{local}[i]"

    def const(name, row=0):
        if heterogeneous:
            return view(name, row)
        local = f"{name}_{row}"
        line = f"    {local} = {name}[{row}]"
        if line not in before:
            before.append(line)
        return local

    add = body.append
    add("        v0 = V[i]")
    add("        h0 = H[i]")
    add("        rc = refr[i]")
    add("        frozen = rc > 0")
    add(f"        drive = I[i] + {const('I_e')}")
    add("        adapt = asc_sum[i]")
    add(f"        el = {const('E_L')}")
    add(f"        gl = {const('G')}")
    add(f"        cm = {const('C_m')}")
    for k in range(P):
        add(f"        d{k} = {view('dg', k)}")
        add(f"        c{k} = {view('g', k)}")
        add(f"        er{k} = {const('E_rev', k)}")
    # --- the whole-step Fehlberg trial (rkf45._fehlberg with the linear part) ---
    for s in range(6):
        if s == 0:
            add("        vs = v0")
        elif s == 1:
            add("        vs = v0 + a2h * k0")
        else:
            row = 6 * (s - 1)
            terms = f"t{row} * k0"
            for j in range(1, s):
                terms = f"({terms} + t{row + j} * k{j})"
            add(f"        vs = v0 + h * {terms}")
        add("        isyn = zero")
        for k in range(P):
            add(f"        isyn = isyn + ({const('alpha_q', s * P + k)} * d{k} + "
                f"{const('alpha_p', s * P + k)} * c{k}) * (vs + el - er{k})")
        add(f"        k{s} = (-(gl * vs) - isyn + drive + adapt) / cm")
    for name, row in (("sol", 30), ("err", 36)):
        terms = f"t{row} * k0"
        for j in range(2, 6):
            terms = f"({terms} + t{row + j} * k{j})"
        add(f"        {name} = {terms}")
    add("        vn = v0 if frozen else v0 + h * sol")
    add("        ev = zero if frozen else h * err")
    add("        quiet = (h0 > h) & (abs(ev) <= emax)")
    for k in range(P):
        p6, q6 = const("alpha_p", rkf45.SOLUTION * P + k), const("alpha_q", rkf45.SOLUTION * P + k)
        p7, q7 = const("alpha_p", rkf45.ERROR * P + k), const("alpha_q", rkf45.ERROR * P + k)
        add(f"        dn{k} = {p6} * d{k}")
        add(f"        cn{k} = {q6} * d{k} + {p6} * c{k}")
        add(f"        quiet = quiet & (abs({p7} * d{k}) <= emax)"
            f" & (abs({q7} * d{k} + {p7} * c{k}) <= emax)")
    add("        loud += 0 if quiet else 1")
    # --- thresholds and after-spike currents of non-refractory neurons ---
    add("        ths0 = th_s[i]")
    add("        thv0 = th_v[i]")
    add("        ths = ths0")
    add("        thv = thv0")
    if R:
        add(f"        ths = ths if frozen else ths * {const('d_s')}")
    if ASC:
        add("        new_sum = zero")
        for j in range(n_asc):
            add(f"        ao{j} = {view('asc', j)}")
            add(f"        a{j} = ao{j}")
            add(f"        new_sum = new_sum + {const('c_asc', j)} * a{j}")
        for j in range(n_asc):
            add(f"        a{j} = a{j} if frozen else a{j} * {const('d_asc', j)}")
        add("        adapt_n = adapt if frozen else new_sum")
    else:
        add("        adapt_n = adapt if frozen else zero")
    if A:
        add("        beta = (drive + adapt_n) / gl")
        add(f"        pv = {const('phi')} * (v0 - beta)")
        add(f"        thv = thv if frozen else (pv * {const('P_V')} + {const('P_th')} * "
            f"(thv - pv - {const('rho')} * beta) + {const('rho')} * beta)")
    add(f"        spike = (not frozen) & (vn > ths + thv + {const('th_inf')})")
    # --- reset, refractoriness, incoming conductance jumps ---
    if ASC:
        for j in range(n_asc):
            add(f"        a{j} = {const('asc_amps', j)} + a{j} * {const('D_asc', j)} "
                f"if spike else a{j}")
    if R:
        add(f"        vn = {const('f_v')} * v0 + {const('V_add')} if spike else vn")
        add(f"        ths = ths * {const('D_s')} + {const('th_spike_add')} if spike else ths")
    else:
        add(f"        vn = {const('V_reset')} if spike else vn")
    add("        vn = v0 if frozen else vn")
    # --- the results; a neuron whose step is not quiet keeps its state (the XLA step redoes
    # it from there) ---
    add(f"        refr[i] = ({const('ref_count')} if spike else (rc - 1 if frozen else rc)) "
        "if quiet else rc")
    for k in range(P):
        jump = f"dn{k} + {view('delta', k)} * {const('kappa', k)}" if delta else f"dn{k}"
        add(f"        {view('dg', k)} = {jump} if quiet else d{k}")
        add(f"        {view('g', k)} = cn{k} if quiet else c{k}")
    if ASC:
        for j in range(n_asc):
            add(f"        {view('asc', j)} = a{j} if quiet else ao{j}")
    add("        V[i] = vn if quiet else v0")
    add("        asc_sum[i] = adapt_n if quiet else adapt")
    add("        th_s[i] = ths if quiet else ths0")
    add("        th_v[i] = thv if quiet else thv0")
    add("        H[i] = grown if quiet else h0")
    add("        spike_o[i] = one if spike & quiet else zero")
    add("        loud_mask_o[i] = 0 if quiet else 1")

    head = [f"def quiet(n, {', '.join(_ARGUMENTS)}):",
            "    zero = tab[%d]" % _ZERO,
            "    half = tab[%d]" % _HALF,
            "    one = half + half",
            "    emax = tab[%d]" % _EMAX,
            "    grown = tab[%d] * h" % _FIVE,
            "    a2h = tab[0] * h",
            "    loud = 0"] + [f"    t{j} = tab[{j}]" for j in range(42)]
    tail = ["    loud_o[0] = loud"]
    return "\n".join(head + before + ["    for i in range(n):"] + body + tail) + "\n"


def _module_source(loop: str, dtype, rows: dict) -> str:
    """A module with the loop and its FFI handler for floats of ``dtype``; ``rows``: the
    number of rows of the (rows, N) state arrays, read as flat arrays of rows·N numbers."""
    n_args = _ARGUMENTS.index("tab") + 1
    floats = f"np.{np.dtype(dtype).name}"
    values = ["n"]
    for i, name in enumerate(_ARGUMENTS):
        result = name.removesuffix("_o") if i >= n_args else name
        # the state updated in place: its result buffer (the same memory as the argument's)
        table, at = ("RETS", RESULTS.index(result)) if i >= n_args or name in IN_PLACE \
            else ("ARGS", i)
        kind = "np.int32" if result in _INTEGER else floats
        if result in rows:
            value = f"data(buffer(frame, {table}, {at}), {rows[result]} * n, {kind})"
        else:
            value = f"vector(buffer(frame, {table}, {at}), {kind})"
        values.append(value + "[0]" if name == "h" else value)            # h, a number
    call = ",\n          ".join(values)
    return (f'''"""glif_cond's quiet step, generated by pynn_brainpy.models._glif_native."""
import numba
import numpy as np
from pynn_brainpy.engine.native import ARGS, RETS, answered_metadata, buffer, data, \\
    done, frame_of, vector


@numba.njit(error_model="numpy", boundscheck=False, cache=True)
{loop}

def handler(frame_address):
    frame = frame_of(frame_address)
    if answered_metadata(frame):
        return done()
    n = vector(buffer(frame, ARGS, 0), {floats}).shape[0]
    quiet({call})
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
def _target(ports, n_asc, flags, heterogeneous, delta, dtype_name):
    """The registered XLA target for this combination (compiled on first use; the module is
    written once, content-addressed, so that numba finds its machine code on disk in later
    processes)."""
    rows = _state_rows(ports, n_asc)
    if not delta:
        del rows["delta"]                  # a one-number placeholder
    source = _module_source(_source(ports, n_asc, flags, heterogeneous, delta), dtype_name,
                            rows)
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    name = f"glif_quiet_{digest}"
    path = os.path.join(_cache_dir(), name + ".py")
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}"
        with open(partial, "w") as f:
            f.write(source)
        os.replace(partial, path)          # whole or absent, never half written
    spec = importlib.util.spec_from_file_location(f"pynn_brainpy_native_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module           # numba's cache finds functions by module
    spec.loader.exec_module(module)
    # about 25 arrays: the vectoriser needs more overlap checks than LLVM allows by default
    return native.register(f"pynn_brainpy_{name}", module.handler, memory_checks=1024)


#: ``PYNN_BRAINPY_NATIVE=0`` in the environment turns the native step off (the XLA step then
#: runs every time), for comparisons.
ENABLED = os.environ.get("PYNN_BRAINPY_NATIVE", "1") != "0"


def available(dtype) -> bool:
    """Whether the native step runs here: enabled, on the CPU, float32 or float64, with
    jaxlib's FFI header."""
    return (ENABLED and jax.default_backend() == "cpu"
            and np.dtype(dtype).name in ("float32", "float64")
            and native.api_version() is not None)


def quiet_step(state: dict, c: dict, flags, ports: int, n_asc: int, h: float, eps_abs: float):
    """Run the loop on ``state`` (the names of :data:`STATE`: (N,) rows, or (rows, N) for
    dg, g, asc, delta; ``delta`` may be None) with the model's step constants ``c``. Returns
    a dict of :data:`RESULTS` shaped like the state, ``spike`` as a float 0/1 row,
    ``loud_mask`` an int32 0/1 row of the neurons whose step was not quiet (their state is
    returned unchanged, their spike 0) and ``loud`` their number. The state's buffers are
    updated in place (:data:`IN_PLACE`)."""
    V = state["V"]
    n, dtype = V.shape[0], V.dtype
    delta = state.get("delta") is not None
    # one loop for homogeneous populations (constants read once), one for heterogeneous ones
    # (every constant per neuron, shared ones broadcast): two compilations, not one per mix
    rows = {name: _rows(r, ports, n_asc) for name, r in _CONSTANTS}
    heterogeneous = n > 1 and any(np.size(c[name]) == rows[name] * n for name in rows)
    args = []
    for name in STATE:
        # (rows, N) arrays as they are: a reshape of a buffer updated in place costs a copy
        value = state[name] if name != "delta" or delta else jnp.zeros((1,), dtype)
        args.append(jnp.asarray(value, jnp.int32 if name in _INTEGER else dtype))
    for name, _ in _CONSTANTS:
        value = jnp.asarray(c[name], jnp.int32 if name in _INTEGER else dtype)
        if heterogeneous:
            value = jnp.broadcast_to(value.reshape(rows[name], -1), (rows[name], n))
        args.append(value.reshape(-1))
    tab = np.append(_tableau(), _largest_quiet_error(eps_abs, dtype))
    args += [jnp.full((1,), h, dtype), jnp.asarray(tab, dtype)]
    stacked = _state_rows(ports, n_asc)
    shapes = [jax.ShapeDtypeStruct(((stacked[r], n) if r in stacked else (n,)) if r != "loud"
                                   else (1,), jnp.int32 if r in _INTEGER else dtype)
              for r in RESULTS]
    target = _target(ports, n_asc, tuple(map(bool, flags)), heterogeneous, delta,
                     np.dtype(dtype).name)
    aliases = {STATE.index(r): RESULTS.index(r) for r in IN_PLACE}
    out = jax.ffi.ffi_call(target, shapes, input_output_aliases=aliases)(*args)
    result = dict(zip(RESULTS, out))
    result["loud"] = result["loud"][0]
    return result
