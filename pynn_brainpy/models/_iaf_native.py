r"""The quiet step of the conductance-based ``iaf_cond_*`` models as one native CPU loop
(:mod:`..engine.native_loop`).

For a model whose state is ``V`` and its linear conductances (:attr:`IAFCondBase.LINEAR`,
one per port: ``("exp", τ)`` a decay ``g``, ``("alpha", τ)`` the pair ``(dg, g)``), the loop
takes each neuron through the whole quiet step in registers: the whole-step Fehlberg trial
(:meth:`IAFCondBase._whole_step`: the conductances at each stage from their polynomials,
``dV/dt`` from the model's :attr:`~IAFCondBase.NATIVE_DV`, the source twin of its
``_dV_free``), the incoming conductance jumps, the refractory count and the threshold — the
same expressions in the same order as :meth:`IAFCondBase._xla_step` — and it buffers the next
step's current in ``I`` (one value for every neuron, or one each), so that XLA neither makes
nor copies a row of it. A neuron whose step is not quiet keeps its state (its current
too) and is marked; the model's XLA step then redoes it.

The loop is generated per model equations, jumps given or not, precision and population
kind (homogeneous: constants read once; heterogeneous: every constant per neuron).
"""

import functools
import string

import numpy as np

from ..engine import native_loop, rkf45

__all__ = ["available", "components", "names", "quiet_step", "supports"]

available = native_loop.available

# the constants the loop reads besides those in the model's NATIVE_DV
_STEP_CONSTANTS = ("V_th", "V_reset", "ref_count")


def supports(model) -> bool:
    """Whether ``model``'s step can run as the loop: its state is V and one linear
    conductance per port, and it gives :attr:`NATIVE_DV`."""
    return (model.NATIVE_DV is not None and model.JUMP_FACTORS is not None
            and len(model.LINEAR) == len(model.JUMP_FACTORS) == model.N_PORTS)


def components(linear):
    """The names of the conductance states after V (``x0, x1, …``, in the order of the
    model's state), and per port the index of its first state (the one a spike's weight
    goes to) and of its conductance (the last)."""
    first, conductance, m = [], [], 0
    for kind, _ in linear:
        first.append(m)
        m += 1 if kind == "exp" else 2
        conductance.append(m - 1)
    return [f"x{k}" for k in range(m)], first, conductance


def _dv_constants(dv: str) -> tuple:
    """The constants named in a model's NATIVE_DV (``{name}``), in order, once each."""
    return tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(dv) if f))


@functools.lru_cache(maxsize=None)
def _layout(linear, dv, jump_factors, delta) -> native_loop.Layout:
    xs, _, _ = components(linear)
    ws = ["weights"] if delta else []
    constants = {name: 1 for name in (*_dv_constants(dv), *_STEP_CONSTANTS)}
    for j, (kind, _) in enumerate(linear):
        constants[f"whole_p{j}"] = 8
        if kind == "alpha":
            constants[f"whole_q{j}"] = 8
    for factor in jump_factors:
        if factor is not None and delta:
            constants[factor] = 1
    return native_loop.Layout(("V", *xs, "I", "refr", "H", *ws, "I_next"),
                              ("V", *xs, "I", "refr", "H"),
                              ("spike", "loud_mask"), constants,
                              {"weights": len(linear)} if delta else {},
                              integer=("refr", "ref_count", "loud_mask"))


def _source(linear, dv, jump_factors, heterogeneous, delta, shared_current):
    """Python source of the loop (see the module docstring); ``shared_current``: one
    ``I_next`` for every neuron."""
    layout = _layout(linear, dv, jump_factors, delta)
    xs, first, conductance = components(linear)
    w = native_loop.Writer(heterogeneous)
    add, const = w.add, w.const
    add("v0 = V[i]")
    add("h0 = H[i]")
    add("rc = refr[i]")
    add("frozen = rc > 0")
    add("istim = I[i]")
    for x in xs:
        add(f"{x}_0 = {x}[i]")
    vth = const("V_th")
    named = {name: const(name) for name in _dv_constants(dv)}

    def at_stage(j, row):
        """Port ``j``'s conductance at factor row ``row`` (IAFCondBase._whole_step)."""
        p = const(f"whole_p{j}", row)
        if linear[j][0] == "exp":
            return f"{p} * {xs[first[j]]}_0"
        q = const(f"whole_q{j}", row)
        return f"{q} * {xs[first[j]]}_0 + {p} * {xs[conductance[j]]}_0"

    def derivative(s):
        for j in range(len(linear)):
            add(f"g{j} = {at_stage(j, s)}")
        add(f"vb = vs if vs < {vth} else {vth}")
        add(f"k{s} = {dv.format(**named)}")

    w.fehlberg_v(derivative)
    add("vn = v0 if frozen else v0 + hsol")
    add("ev = zero if frozen else herr")
    add("quiet = (h0 > h) & (abs(ev) <= emax)")
    for j, (kind, _) in enumerate(linear):
        p6, p7 = const(f"whole_p{j}", rkf45.SOLUTION), const(f"whole_p{j}", rkf45.ERROR)
        x, g = xs[first[j]], xs[conductance[j]]
        add(f"{x}_n = {p6} * {x}_0")
        add(f"quiet = quiet & (abs({p7} * {x}_0) <= emax)")
        if kind == "alpha":
            q6, q7 = const(f"whole_q{j}", rkf45.SOLUTION), const(f"whole_q{j}", rkf45.ERROR)
            add(f"{g}_n = {q6} * {x}_0 + {p6} * {g}_0")
            add(f"quiet = quiet & (abs({q7} * {x}_0 + {p7} * {g}_0) <= emax)")
        if delta:
            factor = jump_factors[j]
            row = w.view("weights", j)
            jump = row if factor is None else f"{row} * {const(factor)}"
            add(f"{x}_n = {x}_n + {jump}")
    add("loud += 0 if quiet else 1")
    add(f"spike = (not frozen) & (vn >= {vth})")
    add(f"vn = {const('V_reset')} if frozen or spike else vn")
    # a neuron whose step is not quiet keeps its state (the XLA step redoes it from there)
    add(f"refr[i] = ({const('ref_count')} if spike else (rc - 1 if frozen else rc)) "
        "if quiet else rc")
    for x in xs:
        add(f"{x}[i] = {x}_n if quiet else {x}_0")
    add("V[i] = vn if quiet else v0")
    add(f"I[i] = {w.per_neuron_or_shared('I_next', shared_current)} if quiet else istim")
    add("H[i] = grown if quiet else h0")
    add("spike_o[i] = one if spike & quiet else zero")
    add("loud_mask_o[i] = 0 if quiet else 1")
    return w.source(layout)


def names(model):
    """The names of the loop's state for ``model``: ``V`` and its conductance states."""
    return ("V", *components(model.LINEAR)[0])


def quiet_step(model, state: dict, w, c, eps_abs: float) -> dict:
    """Run the loop for ``model`` (:func:`supports` it) on ``state``: ``V`` and the
    conductance states (:func:`names`), ``refr`` (refractory counts), ``H`` (sub-steps) and
    ``I`` (the buffered current), (N,) each, and ``I_next`` (the current for the next step:
    one value or (N,); where it is missing ``I`` is kept); ``w``: the weights delivered in
    this step, a (ports, N) array, or None; ``c``: the step constants. Returns the state
    after the step (``I`` the next current, where the step was quiet), ``spike`` (0/1 in the
    float type), ``loud_mask`` and ``loud`` (see :func:`native_loop.call`); the state's
    buffers are updated in place."""
    linear, factors = tuple(model.LINEAR), tuple(model.JUMP_FACTORS)
    delta = w is not None
    layout = _layout(linear, model.NATIVE_DV, factors, delta)
    n, dtype = state["V"].shape[0], state["V"].dtype
    heterogeneous = native_loop.is_heterogeneous(c, layout, n)
    state, shared = native_loop.with_next_current(state)
    target = native_loop.compile_loop(
        "iaf_cond_quiet", _source(linear, model.NATIVE_DV, factors, heterogeneous, delta,
                                  shared),
        layout, np.dtype(dtype).name)
    if delta:
        state = {**state, "weights": w}
    return native_loop.call(target, layout, state, c, heterogeneous, model.dt, eps_abs)
