r"""GSL's adaptive Runge-Kutta-Fehlberg 4(5) integrator, vectorised over neurons.

This reproduces what NEST does when a model integrates one simulation step of length ``h`` with
``gsl_odeiv_evolve_apply`` in a ``while (t < h)`` loop, using ``gsl_odeiv_step_rkf45`` and the
standard step-size control ``gsl_odeiv_control_y_new(eps_abs, 0)``. Every neuron has its own
sub-step size ``H`` that is carried from one simulation step to the next.

Stepper (Fehlberg, fifth-order solution propagated)::

    k1 = f(y)
    k2 = f(y + h·(1/4)·k1)
    k3 = f(y + h·(3/32·k1 + 9/32·k2))
    k4 = f(y + h·(1932·k1 − 7200·k2 + 7296·k3)/2197)
    k5 = f(y + h·(8341·k1 − 32832·k2 + 29440·k3 − 845·k4)/4104)
    k6 = f(y + h·(−6080·k1 + 41040·k2 − 28352·k3 + 9295·k4 − 5643·k5)/20520)
    y' = y + h·(16/135·k1 + 6656/12825·k3 + 28561/56430·k4 − 9/50·k5 + 2/55·k6)
    e  = h·(1/360·k1 − 128/4275·k3 − 2197/75240·k4 + 1/50·k5 + 2/55·k6)

Control, per neuron, with ``r = max_i |e_i| / eps_abs`` (NaN components ignored, at least the
smallest normal number):

* ``r > 1.1``: reject; retry from the same point with ``h·max(0.2, 0.9·r^(−1/5))`` (accepted
  instead if that would not move the time by one ulp);
* ``r < 0.5``: accept; next ``H = h·clip(0.9·r^(−1/6), 1, 5)``;
* otherwise accept and keep ``H = h``.

A trial whose ``H`` reaches past the end of the simulation step is cut to end exactly there;
the next ``H`` is derived from the cut length. Where a trial that covered a whole simulation
step would grow the step, the carried ``H`` is ``5·h`` instead of GSL's
``h·clip(0.9·r^(−1/6), 1, 5)``: any value above ``h`` makes the next step start with one trial
of length ``h`` and nothing after depends on it, so the result is the same and the ``pow`` is
saved (it cost a third of a driven network's neuron update). There is no minimum step, as in
GSL. GSL has no iteration cap either, and a diverging solution then shrinks ``H`` towards one
ulp and never finishes the step; here a neuron that needs more than ``max_trials`` trials in
one step is stopped and reported as stalled, so that the caller can flag it. The arithmetic
of the tableau is written in GSL's order, so that float64 results agree with NEST's to the
last bits or a few ulps (XLA's own rewrites, and the whole-step trials below).

A model whose state has a linear part with constant coefficients (synaptic conductances) can
give :func:`advance` a whole-step trial that takes that part's stages from polynomials
computed once (:func:`alpha_factors`, :func:`trial_with_linear_part`): the same Fehlberg
trial up to rounding, for a fraction of the work. It is used for trials that cover a whole
simulation step; shorter trials use the tableau.

All functions are pure; state is a pytree whose leaves have the neuron axis first.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["advance", "advance_with_events", "rkf45_trial", "adjust", "ratio_yp",
           "alpha_factors", "trial_with_linear_part", "SOLUTION", "ERROR"]

# Butcher tableau as GSL writes it (rkf45.c); the fifth-order weights are GSL's fractions
# over 7618050, which round differently from 16/135 etc.
_A2 = 1.0 / 4.0
_B3 = (3.0 / 32.0, 9.0 / 32.0)
_B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
_B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
_B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0,
       -5643.0 / 20520.0)
_C1 = 902880.0 / 7618050.0
_C3 = 3953664.0 / 7618050.0
_C4 = 3855735.0 / 7618050.0
_C5 = -1371249.0 / 7618050.0
_C6 = 277020.0 / 7618050.0
_EC1 = 1.0 / 360.0
_EC3 = -128.0 / 4275.0
_EC4 = -2197.0 / 75240.0
_EC5 = 1.0 / 50.0
_EC6 = 2.0 / 55.0

_ORDER = 5  # gsl_odeiv_step_rkf45's order(), used by the controller


def _per_neuron(h, leaf):
    """Broadcast a per-neuron scalar (shape (N,)) against a leaf of shape (N, ...)."""
    return h.reshape(h.shape + (1,) * (leaf.ndim - 1))


def _fehlberg(rhs_at: Callable, y, k1, h):
    """The six Fehlberg stages from ``y`` with ``k1`` given; ``rhs_at(s, y_s)`` evaluates the
    right-hand side at stage ``s`` (2..6). Returns ``(y_new, err)``."""
    tm = jax.tree_util.tree_map

    def stage(*coef_k):
        # ytmp = y + h * (b0*k1 + b1*k2 + ...), summed left to right as GSL does.
        coefs, ks = coef_k[0], coef_k[1:]

        def one(yl, hl, *kl):
            acc = coefs[0] * kl[0]
            for c, k in zip(coefs[1:], kl[1:]):
                acc = acc + c * k
            return yl + _per_neuron(hl, yl) * acc
        return tm(lambda yl, *kl: one(yl, h, *kl), y, *ks)

    # GSL computes the first stage as y + (a2*h)*k1.
    y2 = tm(lambda yl, kl: yl + (_A2 * _per_neuron(h, yl)) * kl, y, k1)
    k2 = rhs_at(2, y2)
    k3 = rhs_at(3, stage(_B3, k1, k2))
    k4 = rhs_at(4, stage(_B4, k1, k2, k3))
    k5 = rhs_at(5, stage(_B5, k1, k2, k3, k4))
    k6 = rhs_at(6, stage(_B6, k1, k2, k3, k4, k5))

    def solution(yl, a, c, d, e, f):
        d_i = _C1 * a + _C3 * c + _C4 * d + _C5 * e + _C6 * f
        return yl + _per_neuron(h, yl) * d_i

    def error(yl, a, c, d, e, f):
        return _per_neuron(h, yl) * (_EC1 * a + _EC3 * c + _EC4 * d + _EC5 * e + _EC6 * f)

    return tm(solution, y, k1, k3, k4, k5, k6), tm(error, y, k1, k3, k4, k5, k6)


def rkf45_trial(rhs: Callable, y, k1, h):
    """One Fehlberg trial of length ``h`` (per neuron) from ``y`` with ``k1 = rhs(y)``.

    Returns ``(y_new, err)`` with the same structure as ``y``.
    """
    return _fehlberg(lambda _, ys: rhs(ys), y, k1, h)


# ------------------------------------------------------ whole steps with a linear sub-system
#: Rows of the factor arrays of :func:`alpha_factors`: stages 1..6, the solution, the error.
SOLUTION, ERROR = 6, 7


def alpha_factors(rate, h: float):
    r"""What one Fehlberg trial of length ``h`` does to the pair ``u' = −λu, w' = u − λw``
    (an alpha-shaped conductance: ``u = dg``, ``w = g``; ``u`` alone is an exponential decay).

    The stages of a Runge-Kutta trial are linear in a linear system's initial value: with
    ``A = [[−λ, 0], [1, −λ]]``, stage ``s`` is ``M_s x_0`` where ``M_1 = I`` and
    ``M_s = I + h·A·Σ_j b_sj M_j``; the solution is ``I + h·A·Σ_j c_j M_j`` and the error
    estimate ``h·A·Σ_j e_j M_j`` (the tableau of this module). Every ``M`` has the form
    ``[[p, 0], [q, p]]``, so the pair at stage ``s`` is ``(p_s u_0, q_s u_0 + p_s w_0)``.

    Returns float64 arrays ``(p, q)`` of shape ``(8,) + shape(rate)``; rows 0..5 are the
    stages, :data:`SOLUTION` and :data:`ERROR` the last two. The polynomials are Fehlberg's
    (the same numbers as the stage-by-stage arithmetic, up to rounding), computed once per
    run instead of in every step.
    """
    lam = np.asarray(rate, np.float64)
    p, q = [np.ones_like(lam)], [np.zeros_like(lam)]

    def combine(coefs):
        """h·A·Σ_j coefs_j M_j, as its (p, q) pair."""
        sp = sum(c * pj for c, pj in zip(coefs, p) if c)
        sq = sum(c * qj for c, qj in zip(coefs, q) if c)
        return h * (-lam * sp), h * (sp - lam * sq)

    for coefs in ((_A2,), _B3, _B4, _B5, _B6):
        dp, dq = combine(coefs)
        p.append(1.0 + dp)
        q.append(dq)
    dp, dq = combine((_C1, 0.0, _C3, _C4, _C5, _C6))
    ep, eq = combine((_EC1, 0.0, _EC3, _EC4, _EC5, _EC6))
    return np.stack(p + [1.0 + dp, ep]), np.stack(q + [dq, eq])


def trial_with_linear_part(rhs: Callable, y, linear: Callable, h, frozen=None):
    """A Fehlberg trial of length ``h`` for a state ``(y, x)`` whose part ``x`` obeys a
    linear ODE with constant coefficients and ``y' = rhs(y, x)``.

    ``linear(s)`` gives ``x`` at stage ``s`` (0..5), at :data:`SOLUTION` and the error
    estimate at :data:`ERROR` (e.g. from :func:`alpha_factors` computed for this ``h``).
    Returns ``((y_new, x_new), (y_err, x_err))``. ``y`` goes through the same arithmetic as
    in :func:`rkf45_trial`; ``x`` costs a few products per stage instead of a right-hand side
    and a stage sum. ``frozen`` (optional per-neuron mask): neurons whose ``y' = 0`` at every
    stage (e.g. refractory); their ``y`` stays with zero error, applied once here instead of
    in every stage's right-hand side.
    """
    y_new, y_err = _fehlberg(lambda s, ys: rhs(ys, linear(s - 1)), y, rhs(y, linear(0)), h)
    if frozen is not None:
        tm = jax.tree_util.tree_map
        y_new = tm(lambda new, old: jnp.where(_per_neuron(frozen, new), old, new), y_new, y)
        y_err = tm(lambda e: jnp.where(_per_neuron(frozen, e), 0.0, e), y_err)
    return (y_new, linear(SOLUTION)), (y_err, linear(ERROR))


def _max_abs(err, skip_nan=False):
    """max |e| over the components of each neuron; a NaN component makes it NaN, or with
    ``skip_nan`` is skipped (NaN or −inf when no component is left)."""
    out = None
    for leaf in jax.tree_util.tree_leaves(err):
        e = jnp.abs(leaf)
        if e.ndim > 1:
            e = e.reshape(e.shape[0], -1)
            if skip_nan:
                e = jnp.where(jnp.isnan(e), -jnp.inf, e)
            e = jnp.max(e, axis=1)
        out = e if out is None else (jnp.fmax if skip_nan else jnp.maximum)(out, e)
    return out


def _max_ratio(err, eps_abs):
    """GSL's ``rmax``: max over components of |e|/eps_abs per neuron, NaNs skipped, >= DBL_MIN.

    Division by a positive number rounds monotonically, so the largest ``|e|`` is divided
    once per neuron instead of every component."""
    emax = _max_abs(err, skip_nan=True)
    return jnp.fmax(emax / eps_abs, jnp.finfo(emax.dtype).tiny)


# Below this error ratio GSL's growth factor 0.9·r^(-1/6) exceeds 5 and is clipped to exactly 5
# (the bound is 0.18^6 = 3.4e-5; the margin keeps pow's rounding out of the decision).
_GROW_5 = 3.0e-5


def adjust(rmax, h_try, whole=None):
    """GSL's standard control (``a_y = 1, a_dydt = 0``, ``std_control_hadjust``) from the
    error ratio ``rmax``: ``(decrease, h_suggested)`` per neuron.

    ``whole`` (optional mask): trials that covered a whole simulation step. Where such a
    trial would grow the step, the suggestion is any ``H >= h_try`` as far as the
    integration is concerned (the next step's first trial is cut to ``h`` either way, and
    what follows depends on that length only), so it is ``5·h_try`` without GSL's ``pow``;
    the ``pow`` is skipped altogether when no neuron needs it."""
    dec = rmax > 1.1
    inc = rmax < 0.5
    grow_any = inc if whole is None else inc & ~whole

    def factor(_):
        # one pow per neuron: shrinking and growing exclude each other, and pow with the
        # same arguments gives the same bits whichever branch asked for it
        return 0.9 / jnp.power(rmax, jnp.where(dec, 1.0 / _ORDER, 1.0 / (_ORDER + 1.0)))

    needs_pow = jnp.any(dec | (grow_any & (rmax >= _GROW_5)))
    f = lax.cond(needs_pow, factor, lambda _: jnp.full_like(rmax, 5.0), None)
    r_dec = jnp.maximum(f, 0.2)
    r_inc = jnp.where(grow_any, jnp.maximum(jnp.minimum(f, 5.0), 1.0), 5.0)
    h_new = jnp.where(dec, r_dec * h_try, jnp.where(inc, r_inc * h_try, h_try))
    return dec, h_new


class _Sweep(NamedTuple):
    t: jax.Array       # time reached inside the step, per neuron
    y: object         # state pytree
    H: jax.Array       # carried sub-step size, per neuron
    trials: jax.Array  # trials made in this step, per neuron


def _trial(rhs, s: _Sweep, t_end):
    """Trial step of every neuron from its current point; returns (y_new, rmax inputs)."""
    remaining = t_end - s.t
    final = s.H > remaining
    h_try = jnp.where(final, remaining, s.H)
    y_new, err = rkf45_trial(rhs, s.y, rhs(s.y), h_try)
    return y_new, err, h_try, final


def _decide(s: _Sweep, trial, t_end, eps_abs, active):
    """GSL's accept/reject for one trial; ``active`` masks neurons already at the step end."""
    y_new, err, h_try, final = trial
    # inactive neurons' ratios are ignored, so that they never ask for the pow
    rmax = jnp.where(active, _max_ratio(err, eps_abs), jnp.finfo(h_try.dtype).tiny)
    dec, h_sugg = adjust(rmax, h_try, whole=final & (s.t == 0))
    t_after = jnp.where(final, t_end, s.t + h_try)
    # Rejection only if the step really shrinks and still moves the clock (GSL's ulp guard).
    reject = dec & (h_sugg < h_try) & (t_after + h_sugg != t_after)
    h_next = jnp.where(dec & ~reject, h_try, h_sugg)
    take = active & ~reject
    t = jnp.where(take, t_after, s.t)
    y = jax.tree_util.tree_map(lambda a, b: jnp.where(_per_neuron(take, a), a, b), y_new, s.y)
    H = jnp.where(active, h_next, s.H)
    return _Sweep(t, y, H, s.trials + active.astype(s.trials.dtype))


def _gather(tree, idx, n, axis=0):
    """Neurons ``idx`` of every leaf whose axis ``axis`` is the neuron axis (size ``n``);
    other leaves (shared values) as they are."""
    def take(leaf):
        if jnp.ndim(leaf) >= 1 and leaf.shape[axis] == n:
            return jnp.take(leaf, idx, axis=axis)
        return leaf
    return jax.tree_util.tree_map(take, tree)


def advance(rhs: Callable, y, H, h, eps_abs=1e-3, max_trials=10_000, params=None,
            compact_size=None, whole_step=None):
    """Integrate every neuron over one simulation step of length ``h``.

    Parameters
    ----------
    rhs : callable
        ``rhs(y) -> dy/dt`` for the whole population (autonomous within the step), or
        ``rhs(y, params)`` when ``params`` is given.
    y : pytree
        State, leaves of shape (N, ...).
    H : array (N,)
        Carried sub-step sizes.
    h : float
        Simulation step (ms).
    max_trials : int
        Trials allowed per neuron and step before it is given up as stalled (diverging).
    params : pytree, optional
        Inputs of ``rhs``: leaves whose last axis is the neuron axis (shape (N,) or (k, N)),
        or shared values whose last axis is not N (scalars, (k, 1)). Given them, the adaptive
        loop can run on the few neurons that need it (below). Index port vectors inside
        ``rhs``: slices taken outside make XLA's compiled step markedly slower.
    compact_size : int, optional
        With ``params``: the neurons that still need sub-steps after the first trial are
        gathered, up to this many at a time, and only they iterate.
    whole_step : callable, optional
        ``whole_step(y) -> (y_new, err)`` (``whole_step(y, params)`` with ``params``): the
        Fehlberg trial of length exactly ``h`` from ``y`` for every neuron, computed another
        way (e.g. :func:`trial_with_linear_part`). Given it, the first trial of a neuron whose
        carried ``H`` covers the step is this one; neurons with a shorter ``H`` make all their
        trials in the adaptive loop. Either way a neuron's result depends on its own state
        only.

    Returns
    -------
    (y, H, stalled): the state at the end of the step, the sub-step sizes to carry on, and a
    per-neuron mask of neurons that did not reach the end of the step.

    The first trial is made for all neurons at once (with ``whole_step``: for those whose
    ``H`` covers the step). When every neuron covered the whole step with an error ratio
    below 0.5 (accepted, and the step would grow: ``5·h`` is carried), that is the result
    (no control, no ``pow``, no loop). Otherwise GSL's full control decides, and the
    adaptive loop runs while some neuron has not reached the end of the step. Every neuron's
    arithmetic is the same on each path, so the paths give identical results.
    """
    n = H.shape[0]
    f = rhs if params is None else (lambda state: rhs(state, params))
    t_end = jnp.asarray(h, H.dtype)
    s0 = _Sweep(jnp.zeros_like(H), y, H, jnp.zeros(H.shape, jnp.int32))
    if whole_step is None:
        first = _trial(f, s0, t_end)
        first_active = jnp.ones(H.shape, bool)
    else:
        y_whole, err_whole = whole_step(y) if params is None else whole_step(y, params)
        first = (y_whole, err_whole, jnp.full_like(H, t_end), H > t_end)
        first_active = H >= t_end
    y1, err, h_try, final = first
    # GSL accepts a whole-step trial with r < 0.5 and would grow the step, so 5·h is carried
    # (see adjust). A NaN error makes the plain max NaN and the step not quiet: the full
    # control then skips NaN components as GSL does.
    quiet = jnp.all(final & (_max_abs(err) / eps_abs < 0.5))

    def running(s):
        return (s.t < t_end) & (s.trials < max_trials)

    def loop(fn, s):
        def body(s):
            return _decide(s, _trial(fn, s, t_end), t_end, eps_abs, running(s))
        return lax.while_loop(lambda s: jnp.any(running(s)), body, s)

    def compact_loop(s):
        idx = jnp.nonzero(running(s), size=compact_size, fill_value=n)[0]
        valid = idx < n
        rows = jnp.minimum(idx, n - 1)
        part = _gather(s, rows, n)
        part = part._replace(t=jnp.where(valid, part.t, t_end))    # padding rows are done
        p = _gather(params, rows, n, axis=-1)
        part = loop(lambda state: rhs(state, p), part)
        put = lambda whole, sub: whole.at[idx].set(sub, mode="drop")
        return jax.tree_util.tree_map(put, s, part)

    def rest(s):
        if params is None or compact_size is None or compact_size >= n:
            return loop(f, s)
        # Batches of up to compact_size neurons, each integrated to the end of the step: the
        # loop body is traced once, and the work follows the neurons that need it.
        return lax.while_loop(lambda s: jnp.any(running(s)), compact_loop, s)

    def fast(_):
        return y1, 5.0 * h_try, jnp.zeros(H.shape, bool)

    def full(_):
        s = _decide(s0, first, t_end, eps_abs, first_active)
        s = lax.cond(jnp.all(s.t >= t_end), lambda s: s, rest, s)
        return s.y, s.H, s.t < t_end

    return lax.cond(quiet, fast, full, None)


# ------------------------------------------------------------------ with events in the step
def ratio_yp(eps_abs, eps_rel) -> Callable:
    """GSL's standard control with ``a_y = 0, a_dydt = 1`` (``gsl_odeiv_control_yp_new``):
    ``r = max_i |e_i| / (eps_rel·(0·|y_i| + 1·|h·y'_i|) + eps_abs)`` with ``y'`` at the new
    point; NaN components skipped, at least DBL_MIN. Returns ``fn(y_new, dydt_new, err, h)``.
    """
    def ratio(y_new, dydt, err, h):
        leaves = zip(jax.tree_util.tree_leaves(y_new), jax.tree_util.tree_leaves(dydt),
                     jax.tree_util.tree_leaves(err))
        rmax = None
        for y, yp, e in leaves:
            D0 = eps_rel * (0.0 * jnp.abs(y) + 1.0 * jnp.abs(h * yp)) + eps_abs
            r = jnp.abs(e) / jnp.abs(D0)
            if rmax is None:
                rmax = jnp.full(r.shape, jnp.finfo(r.dtype).tiny, r.dtype)
            rmax = jnp.fmax(rmax, r)
        return rmax
    return ratio


class _EventLoop(NamedTuple):
    t: jax.Array
    y: tuple
    H: jax.Array
    aux: object
    trials: jax.Array


def advance_with_events(rhs_of: Callable, ratio: Callable, on_substep: Callable, y, H, aux,
                        h, max_trials: int = 100_000):
    """NEST's ``while (t < h) { gsl_odeiv_evolve_apply(...); <event check> }`` for every
    neuron at once, with an event check after each accepted sub-step.

    ``rhs_of(aux)`` gives the right-hand side ``rhs(y)`` for the current per-neuron ``aux``
    (e.g. the refractory counter, which an event may change mid-step); ``ratio(y_new,
    rhs(y_new), err, h_try)`` is the control's error ratio; ``on_substep(y, aux, mask)``
    applies the event check to the neurons in ``mask`` (those whose trial was accepted) and
    returns ``(y, aux)``. Sub-step sizes ``H`` are carried per neuron as in NEST. Returns
    ``(y, H, aux, stalled)``.
    """
    t_end = jnp.asarray(h, H.dtype)

    def running(s):
        return (s.t < t_end) & (s.trials < max_trials)

    def body(s):
        active = running(s)
        remaining = t_end - s.t
        final = s.H > remaining
        h_try = jnp.where(final, remaining, s.H)
        rhs = rhs_of(s.aux)
        y_new, err = rkf45_trial(rhs, s.y, rhs(s.y), h_try)
        dec, h_sugg = adjust(ratio(y_new, rhs(y_new), err, h_try), h_try,
                             whole=final & (s.t == 0))
        t_after = jnp.where(final, t_end, s.t + h_try)
        reject = dec & (h_sugg < h_try) & (t_after + h_sugg != t_after)
        h_next = jnp.where(dec & ~reject, h_try, h_sugg)
        take = active & ~reject
        y = tuple(jnp.where(take, a, b) for a, b in zip(y_new, s.y))
        y, aux = on_substep(y, s.aux, take)
        return _EventLoop(jnp.where(take, t_after, s.t), y, jnp.where(active, h_next, s.H), aux,
                     s.trials + active.astype(s.trials.dtype))

    s0 = _EventLoop(jnp.zeros_like(H), tuple(y), H, aux, jnp.zeros(H.shape, jnp.int32))
    s = lax.while_loop(lambda s: jnp.any(running(s)), body, s0)
    return s.y, s.H, s.aux, s.t < t_end
