r"""``glif_cond``'s quiet step as one native CPU loop (:mod:`..engine.native_loop`).

The loop takes each neuron through the whole quiet step in registers: the whole-step
Fehlberg trial (:meth:`glif_cond._whole_step`, conductance stages from their polynomials),
the threshold and after-spike-current updates, the spike test, the reset and the incoming
conductance jumps — the same expressions in the same order as the XLA code — and it buffers
the next step's current in ``I_stim``. A neuron whose
step is not quiet keeps its state and is marked; where there is one,
:meth:`glif_cond.update` runs the XLA step on the state the loop left and takes the marked
neurons' results from it.

The loop is generated per combination of ports, after-spike currents, mechanisms, incoming
jumps, precision and population kind (homogeneous: constants read once; heterogeneous:
every constant per neuron). In float32 the stages' right-hand side
``(I + I_e + Σasc − G·v − Σ_k g_k (v + E_L − E_rev,k)) / C_m`` (``v = V − E_L``) takes
``E_L − E_rev,k`` and the drive ``I + I_e + Σasc`` summed once per neuron instead of in
each of the six stages (float64 keeps the XLA step's order of operations, and NEST's
results bit for bit).
"""

import functools

import numpy as np

from ..engine import native_loop, rkf45

__all__ = ["available", "quiet_step", "STATE", "IN_PLACE", "RESULTS"]

#: The per-neuron inputs of the loop: (N,) rows, or (rows, N) for dg, g, asc and delta;
#: ``I_next`` (the current buffered for the next step) has one value or one per neuron.
STATE = ("V", "dg", "g", "I", "asc", "asc_sum", "th_s", "th_v", "refr", "H", "delta",
         "I_next")
#: The state the loop updates in place (its buffers are also results: XLA keeps a
#: population's state in the same buffers from step to step instead of copying the
#: loop's results into them, ~230 kB per step for the GLIF network's 3200 neurons). ``I``
#: becomes ``I_next``: no (N,) row of the next current is made, nor copied, in XLA.
IN_PLACE = ("V", "dg", "g", "I", "asc", "asc_sum", "th_s", "th_v", "refr", "H")
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

available = native_loop.available


def _state_rows(ports, n_asc):
    """Rows of the (rows, N) state arrays (``delta`` too, where it is given)."""
    return {"dg": ports, "g": ports, "asc": n_asc, "delta": ports}


@functools.lru_cache(maxsize=None)
def _layout(ports, n_asc, delta) -> native_loop.Layout:
    rows = _state_rows(ports, n_asc)
    if not delta:
        del rows["delta"]                  # a one-number placeholder
    constants = {name: {1: 1, "P": ports, "8P": 8 * ports, "A": n_asc}[r]
                 for name, r in _CONSTANTS}
    return native_loop.Layout(STATE, IN_PLACE, ("spike", "loud_mask"), constants, rows,
                              integer=("refr", "ref_count", "loud_mask"))


def _source(ports, n_asc, flags, heterogeneous, delta, exact, shared_current):
    """Python source of the loop (see the module docstring); ``exact``: float64's divisions
    (:class:`native_loop.Writer`); ``shared_current``: one ``I_next`` for every neuron."""
    R, ASC, A = flags
    P = ports
    w = native_loop.Writer(heterogeneous, exact)
    add, view, const = w.add, w.view, w.const
    add("v0 = V[i]")
    add("h0 = H[i]")
    add("rc = refr[i]")
    add("frozen = rc > 0")
    add("i0 = I[i]")
    add(f"drive = i0 + {const('I_e')}")
    add("adapt = asc_sum[i]")
    add(f"el = {const('E_L')}")
    add(f"gl = {const('G')}")
    for k in range(P):
        add(f"d{k} = {view('dg', k)}")
        add(f"c{k} = {view('g', k)}")
        add(f"er{k} = {const('E_rev', k)}")

    if exact:
        driving = [f"(vs + el - er{k})" for k in range(P)]
        dV = "-(gl * vs) - isyn + drive + adapt"
    else:
        # float32 (no bit-for-bit promise): what the six stages share, summed once
        add("drive_adapt = drive + adapt")
        for k in range(P):
            add(f"el_er{k} = el - er{k}")
        driving = [f"(vs + el_er{k})" for k in range(P)]
        dV = "drive_adapt - gl * vs - isyn"

    def derivative(s):
        terms = [f"({const('alpha_q', s * P + k)} * d{k} + {const('alpha_p', s * P + k)} * c{k})"
                 f" * {driving[k]}" for k in range(P)]
        if exact:            # from zero, as the XLA step sums
            add("isyn = zero")
            for term in terms:
                add(f"isyn = isyn + {term}")
        else:
            add(f"isyn = {' + '.join(terms) if terms else 'zero'}")
        add(f"k{s} = {w.quotient(dV, 'C_m')}")

    # --- the whole-step Fehlberg trial (rkf45._fehlberg with the linear part) ---
    w.fehlberg_v(derivative)
    add("vn = v0 if frozen else v0 + hsol")
    add("ev = zero if frozen else herr")
    add("quiet = (h0 > h) & (abs(ev) <= emax)")
    for k in range(P):
        p6, q6 = const("alpha_p", rkf45.SOLUTION * P + k), const("alpha_q", rkf45.SOLUTION * P + k)
        p7, q7 = const("alpha_p", rkf45.ERROR * P + k), const("alpha_q", rkf45.ERROR * P + k)
        add(f"dn{k} = {p6} * d{k}")
        add(f"cn{k} = {q6} * d{k} + {p6} * c{k}")
        add(f"quiet = quiet & (abs({p7} * d{k}) <= emax)"
            f" & (abs({q7} * d{k} + {p7} * c{k}) <= emax)")
    add("loud += 0 if quiet else 1")
    # --- thresholds and after-spike currents of non-refractory neurons ---
    add("ths0 = th_s[i]")
    add("thv0 = th_v[i]")
    add("ths = ths0")
    add("thv = thv0")
    if R:
        add(f"ths = ths if frozen else ths * {const('d_s')}")
    if ASC:
        add("new_sum = zero")
        for j in range(n_asc):
            add(f"ao{j} = {view('asc', j)}")
            add(f"a{j} = ao{j}")
            add(f"new_sum = new_sum + {const('c_asc', j)} * a{j}")
        for j in range(n_asc):
            add(f"a{j} = a{j} if frozen else a{j} * {const('d_asc', j)}")
        add("adapt_n = adapt if frozen else new_sum")
    else:
        add("adapt_n = adapt if frozen else zero")
    if A:
        add(f"beta = {w.quotient('drive + adapt_n', 'G')}")
        add(f"pv = {const('phi')} * (v0 - beta)")
        add(f"thv = thv if frozen else (pv * {const('P_V')} + {const('P_th')} * "
            f"(thv - pv - {const('rho')} * beta) + {const('rho')} * beta)")
    add(f"spike = (not frozen) & (vn > ths + thv + {const('th_inf')})")
    # --- reset, refractoriness, incoming conductance jumps ---
    if ASC:
        for j in range(n_asc):
            add(f"a{j} = {const('asc_amps', j)} + a{j} * {const('D_asc', j)} "
                f"if spike else a{j}")
    if R:
        add(f"vn = {const('f_v')} * v0 + {const('V_add')} if spike else vn")
        add(f"ths = ths * {const('D_s')} + {const('th_spike_add')} if spike else ths")
    else:
        add(f"vn = {const('V_reset')} if spike else vn")
    add("vn = v0 if frozen else vn")
    # --- the results; a neuron whose step is not quiet keeps its state (the XLA step redoes
    # it from there) ---
    add(f"refr[i] = ({const('ref_count')} if spike else (rc - 1 if frozen else rc)) "
        "if quiet else rc")
    for k in range(P):
        jump = f"dn{k} + {view('delta', k)} * {const('kappa', k)}" if delta else f"dn{k}"
        add(f"{view('dg', k)} = {jump} if quiet else d{k}")
        add(f"{view('g', k)} = cn{k} if quiet else c{k}")
    if ASC:
        for j in range(n_asc):
            add(f"{view('asc', j)} = a{j} if quiet else ao{j}")
    add("V[i] = vn if quiet else v0")
    add(f"I[i] = {w.per_neuron_or_shared('I_next', shared_current)} if quiet else i0")
    add("asc_sum[i] = adapt_n if quiet else adapt")
    add("th_s[i] = ths if quiet else ths0")
    add("th_v[i] = thv if quiet else thv0")
    add("H[i] = grown if quiet else h0")
    add("spike_o[i] = one if spike & quiet else zero")
    add("loud_mask_o[i] = 0 if quiet else 1")
    return w.source(_layout(ports, n_asc, delta))


def quiet_step(state: dict, c: dict, flags, ports: int, n_asc: int, h: float, eps_abs: float):
    """Run the loop on ``state`` (the names of :data:`STATE`: (N,) rows, or (rows, N) for
    dg, g, asc, delta; ``delta`` may be None; ``I_next`` one value or (N,), where it is
    missing ``I`` is kept) with the model's step constants ``c``. Returns
    a dict of :data:`RESULTS` shaped like the state, ``spike`` as a float 0/1 row,
    ``loud_mask`` an int32 0/1 row of the neurons whose step was not quiet (their state is
    returned unchanged, their spike 0) and ``loud`` their number. The state's buffers are
    updated in place (:data:`IN_PLACE`)."""
    V = state["V"]
    n, dtype = V.shape[0], V.dtype
    delta = state.get("delta") is not None
    layout = _layout(ports, n_asc, delta)
    heterogeneous = native_loop.is_heterogeneous(c, layout, n)
    flags = tuple(map(bool, flags))
    dtype_name = np.dtype(dtype).name
    state, shared = native_loop.with_next_current(state)
    target = native_loop.compile_loop(
        "glif_quiet", _source(ports, n_asc, flags, heterogeneous, delta,
                              exact=dtype_name == "float64", shared_current=shared),
        layout, dtype_name)
    if not delta:
        state = {**state, "delta": np.zeros((1,), dtype_name)}
    return native_loop.call(target, layout, state, c, heterogeneous, h, eps_abs)
