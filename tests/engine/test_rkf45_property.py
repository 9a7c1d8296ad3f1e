"""``engine.rkf45.advance`` against a scalar re-statement of GSL's evolve loop (property test).

The oracle below is plain Python on floats, one neuron at a time, written after GSL's
``ode-initval`` sources as NEST uses them (spec/glif_cond.md §7):

* ``rkf45_apply``: Fehlberg stages and the propagated fifth-order solution, with GSL's
  coefficients and summation order; the error estimate ``yerr``.
* ``std_hadjust``: ``gsl_odeiv_control_y_new(eps_abs, 0)``, i.e. ``a_y = 1``, ``a_dydt = 0``,
  ``D0 = eps_abs``; ``rmax = max(DBL_MIN, max_i |yerr_i|/D0)`` (NaN skipped); decrease by
  ``max(0.9·rmax^(-1/5), 0.2)`` when ``rmax > 1.1``, increase by
  ``clip(0.9·rmax^(-1/6), 1, 5)`` when ``rmax < 0.5``, keep ``h`` otherwise.
* ``evolve_apply``: derivative at the start computed once; the trial is cut to end exactly at
  ``t1``; a decrease is a rejection (undo, retry from the same point) only when the step really
  shrinks and ``t + h_new`` still differs from ``t``; otherwise the step is kept with the old
  ``h``.
* ``nest_step``: NEST's ``while (t < h) evolve_apply(...)`` over one simulation step, with the
  sub-step ``H`` carried from step to step.

The test system is linear, a conductance-based-like chain per neuron::

    dV/dt  = -a·V + b·g
    dg/dt  = dg - g/tau
    ddg/dt = -dg/tau

with per-neuron random ``a``, ``b``, ``tau``, initial state and initial ``H``, and random
"spike" kicks ``dg += w`` after each simulation step, so that some neurons need rejections and
several sub-steps while others finish in one trial, in the same call of ``advance``.

Why the comparison is not bit-exact, and what is compared
----------------------------------------------------------
XLA's CPU code is not bit-identical to GSL's C: it contracts ``a·b + c`` into FMAs, turns
several divisions by the same value into one reciprocal and multiplications, and flushes
subnormal numbers to zero. Each value therefore differs from the oracle's by about an ulp. For
the state that is harmless. The sub-step size is not: GSL derives it with ``pow`` from the error
estimate, a sum of O(h) terms that cancel to O(h^5), whose relative rounding noise is
``ulp·mag/|err|`` (``mag``: the sum of the terms' magnitudes) and can reach 1e-6 and more. Over
a free-running trajectory that noise feeds back into the state and the next error estimates.

The carried ``H`` is compared as the integration sees it (``effective``): above the simulation
step every value acts the same, and ``advance`` carries ``5·h`` there without computing GSL's
growth factor.

So the property test checks the step map: every simulation step of ``advance``'s trajectory
(states, carried ``H``, kicks, all neurons in one call) is compared with the oracle's step from
the same input, i.e. from ``advance``'s own state and ``H`` at the start of that step. Within a
step the oracle carries an estimate of the rounding noise (of ``H``, of the clock ``t`` that
decides the cut, and of the state) next to the computation; the tolerances are a floor of a few
1e-12 plus a multiple of that estimate. A wrong rule in ``advance`` (cut, accept/reject, control
factor, carried ``H``, masking of neurons that are done) changes ``H`` by 1e-3 to 5x and the
state far above these bounds. The fixed scenarios further down also compare free-running
trajectories, and aim at each branch of the controller.
"""

import functools
import math
import sys

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pynn_brainpy.engine.rkf45 import advance


@pytest.fixture(autouse=True, scope="module")
def x64():
    brainstate.environ.set(precision=64)
    yield


# ================================================================ scalar oracle (GSL, by hand)
A2 = 1.0 / 4.0
B3 = (3.0 / 32.0, 9.0 / 32.0)
B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0,
      -5643.0 / 20520.0)
C = (902880.0 / 7618050.0, 3953664.0 / 7618050.0, 3855735.0 / 7618050.0,
     -1371249.0 / 7618050.0, 277020.0 / 7618050.0)              # weights of k1, k3, k4, k5, k6
EC = (1.0 / 360.0, -128.0 / 4275.0, -2197.0 / 75240.0, 1.0 / 50.0, 2.0 / 55.0)
ORDER = 5
DEC, NIL, INC = -1, 0, 1
ULP = 2.0 ** -52


def rkf45_apply(f, y, h, k1):
    """One Fehlberg step of length ``h`` from ``y`` (list), ``k1 = f(y)``.

    Returns ``(y_new, yerr, mag)``; ``mag[i] = h·Σ_s |e_s·k_s[i]|`` is the size of the terms
    that cancel in ``yerr[i]``.
    """
    n = len(y)
    ytmp = [y[i] + A2 * h * k1[i] for i in range(n)]
    k2 = f(ytmp)
    ytmp = [y[i] + h * (B3[0] * k1[i] + B3[1] * k2[i]) for i in range(n)]
    k3 = f(ytmp)
    ytmp = [y[i] + h * (B4[0] * k1[i] + B4[1] * k2[i] + B4[2] * k3[i]) for i in range(n)]
    k4 = f(ytmp)
    ytmp = [y[i] + h * (B5[0] * k1[i] + B5[1] * k2[i] + B5[2] * k3[i] + B5[3] * k4[i])
            for i in range(n)]
    k5 = f(ytmp)
    ytmp = [y[i] + h * (B6[0] * k1[i] + B6[1] * k2[i] + B6[2] * k3[i] + B6[3] * k4[i]
                        + B6[4] * k5[i]) for i in range(n)]
    k6 = f(ytmp)
    y_new, yerr, mag = [], [], []
    for i in range(n):
        d_i = C[0] * k1[i] + C[1] * k3[i] + C[2] * k4[i] + C[3] * k5[i] + C[4] * k6[i]
        y_new.append(y[i] + h * d_i)
        terms = (EC[0] * k1[i], EC[1] * k3[i], EC[2] * k4[i], EC[3] * k5[i], EC[4] * k6[i])
        yerr.append(h * (terms[0] + terms[1] + terms[2] + terms[3] + terms[4]))
        mag.append(h * sum(abs(x) for x in terms))
    return y_new, yerr, mag


def std_hadjust(yerr, h_old, eps_abs):
    """GSL's standard control with eps_rel = 0.

    Returns ``(status, h_new, i_max, free)``: ``i_max`` is the component that set ``rmax``
    (None if every error is 0), and ``free`` says that the factor came from ``pow`` rather
    than from a clip or "no change", so that ``h_new`` carries the rounding noise of ``rmax``.
    """
    rmax = sys.float_info.min                      # DBL_MIN
    i_max = None
    for i, e in enumerate(yerr):
        r = abs(e) / abs(eps_abs)                  # D0 = eps_rel*(...) + eps_abs = eps_abs
        if r > rmax:                               # GSL_MAX_DBL: a NaN r never wins
            rmax, i_max = r, i
    if rmax > 1.1:
        r = 0.9 / math.pow(rmax, 1.0 / ORDER)
        free = r >= 0.2
        if r < 0.2:
            r = 0.2
        return DEC, r * h_old, i_max, free
    if rmax < 0.5:
        r = 0.9 / math.pow(rmax, 1.0 / (ORDER + 1.0))
        free = 1.0 <= r <= 5.0
        if r > 5.0:
            r = 5.0
        if r < 1.0:
            r = 1.0
        return INC, r * h_old, i_max, free
    return NIL, h_old, i_max, False


def evolve_apply(f, lip, t, t1, h, y, eps_abs, stats, noise):
    """``gsl_odeiv_evolve_apply`` with the rkf45 stepper and the control above.

    ``noise`` holds rounding-noise estimates that play no part in GSL's decisions: ``h`` the
    relative noise of the suggested step, ``t`` the absolute noise of the clock, ``y`` the
    absolute noise of the state (max norm). ``lip`` bounds the Jacobian (max row sum).
    """
    t0 = t
    h0 = h
    dt = t1 - t0
    y0 = list(y)
    dydt_in = f(y0)
    s_h = noise["h"]
    y_size = max(abs(v) for v in y0)
    while True:                                    # try_step:
        if h0 > dt:
            h0 = dt
            final_step = True
            s_h0 = (noise["t"] + ULP * t1) / dt    # the cut length inherits the clock's noise
        else:
            final_step = False
            s_h0 = s_h
        y_new, yerr, mag = rkf45_apply(f, y0, h0, dydt_in)
        stats["trials"] += 1
        if stats["trials"] > 100_000:
            raise RuntimeError("oracle did not finish the step")
        t = t1 if final_step else t0 + h0
        h_old = h0
        status, h0, i_max, free = std_hadjust(yerr, h0, eps_abs)
        s_h = s_h0
        if free and i_max is not None:
            # noise of yerr: its own rounding (~ulp·mag), the rounding inside the right-hand
            # side (~ulp·lip·|y|, larger than ulp·|k| where its terms cancel) and the noise of
            # the state it starts from, through the error weights (Σ|e_s| < 0.12)
            s_err = 4 * ULP * mag[i_max] + 0.5 * h_old * lip * (noise["y"] + 8 * ULP * y_size)
            s_h = s_h0 + s_err / abs(yerr[i_max])
        if status == DEC:
            if abs(h0) < abs(h_old) and t + h0 != t:
                stats["rejections"] += 1
                continue                           # undo the step, try again with h0
            h0 = h_old                             # keep the current step size
            s_h = s_h0
        # accepted: the state's noise grows with the step (Lipschitz), by the step's own
        # rounding, and by the change of the truncation error with the step length (~5·dh/h)
        err_size = max(abs(e) for e in yerr)
        noise["y"] = (noise["y"] * (1.0 + h_old * lip) + 8 * ULP * y_size
                      + 5 * s_h0 * err_size)
        noise["t"] = 0.0 if final_step else noise["t"] + h_old * s_h0 + ULP * t
        noise["h"] = s_h
        return t, h0, y_new


def nest_step(f, lip, y, H, h, eps_abs, stats, noise):
    """NEST's ``t = 0; while (t < h) evolve_apply(...)`` over one simulation step."""
    t = 0.0
    noise["t"] = 0.0
    while t < h:
        t, H, y = evolve_apply(f, lip, t, h, H, y, eps_abs, stats, noise)
        stats["substeps"] += 1
    return y, H


def oracle_rhs(a, b, tau):
    def f(y):
        V, dg, g = y
        return [-a * V + b * g, -dg / tau, dg - g / tau]
    lip = max(abs(a) + abs(b), 1.0 / tau, 1.0 + 1.0 / tau)
    return f, lip


def run_oracle(params, y0, H0, kicks, h, eps_abs, restart=None):
    """Every neuron on its own, step by step; state as [V, dg, g].

    With ``restart = (ys, Hs)`` (a trajectory of the code under test), step m starts from
    ``ys[m-1], Hs[m-1]`` instead of from the oracle's own previous step.

    Returns the states after each step and its kick (steps, N, 3), the carried sub-step sizes
    (steps, N), the noise estimates of H (relative) and of the state (absolute), both
    (steps, N), and counters.
    """
    a, b, tau = params
    n_steps, n = kicks.shape
    ys = np.empty((n_steps, n, 3))
    Hs = np.empty((n_steps, n))
    noise_H = np.zeros((n_steps, n))
    noise_y = np.zeros((n_steps, n))
    stats = {"trials": 0, "rejections": 0, "substeps": 0}
    for j in range(n):
        f, lip = oracle_rhs(float(a[j]), float(b[j]), float(tau[j]))
        y = [float(v) for v in y0[j]]
        H = float(H0[j])
        noise = {"h": 0.0, "t": 0.0, "y": 0.0}
        for m in range(n_steps):
            if restart is not None and m > 0:
                y = [float(v) for v in restart[0][m - 1, j]]
                H = float(restart[1][m - 1, j])
                noise = {"h": 0.0, "t": 0.0, "y": 0.0}
            y, H = nest_step(f, lip, y, H, h, eps_abs, stats, noise)
            y[1] = y[1] + float(kicks[m, j])       # spike input after the ODE step
            ys[m, j] = y
            Hs[m, j] = H
            noise_H[m, j] = noise["h"]
            noise_y[m, j] = noise["y"]
    return ys, Hs, noise_H, noise_y, stats


# ================================================================ the code under test
def jax_rhs(y, params):
    a, b, tau = params
    V, syn = y                                     # syn[:, 0] = dg, syn[:, 1] = g
    dg, g = syn[:, 0], syn[:, 1]
    return -a * V + b * g, jnp.stack([-dg / tau, dg - g / tau], axis=1)


@functools.partial(jax.jit, static_argnames="compact")
def _run_jax(params, V, syn, H, kicks, h, eps_abs, compact):
    def body(carry, kick):
        V, syn, H = carry
        if compact is None:                        # rhs(y): the loop runs on all neurons
            (V, syn), H, stalled = advance(lambda y: jax_rhs(y, params), (V, syn), H, h,
                                           eps_abs)
        else:                                      # rhs(y, params): gathered batches
            (V, syn), H, stalled = advance(jax_rhs, (V, syn), H, h, eps_abs,
                                           params=params, compact_size=compact)
        syn = syn.at[:, 0].add(kick)
        return (V, syn, H), (V, syn, H, stalled)

    _, out = jax.lax.scan(body, (V, syn, H), kicks)
    return out


def run_jax(params, y0, H0, kicks, h, eps_abs, compact=None):
    """The trajectory with ``advance``, all neurons at once; state pytree (V (N,), syn (N, 2)).

    ``compact``: None for ``rhs(y)``, else ``rhs(y, params)`` with that ``compact_size``.
    Returns states (steps, N, 3) as [V, dg, g], carried H (steps, N) and stall masks.
    """
    V, syn, H, stalled = _run_jax(tuple(jnp.asarray(p) for p in params),
                                  jnp.asarray(y0[:, 0]), jnp.asarray(y0[:, 1:]),
                                  jnp.asarray(H0), jnp.asarray(kicks), h, eps_abs,
                                  compact=compact)
    ys = np.concatenate([np.asarray(V)[..., None], np.asarray(syn)], axis=-1)
    return ys, np.asarray(H), np.asarray(stalled)


# Relative floors (XLA's ulp-level differences) and multiples of the oracle's noise estimates.
Y_FLOOR, H_FLOOR = 4e-12, 1e-12
Y_NOISE, H_NOISE = 4.0, 4.0


def effective(H, h):
    """The carried sub-step as the integration sees it: a value above the simulation step
    only means "the next step starts with one trial of length h" (advance carries 5·h there
    without GSL's pow; GSL carries h·clip(0.9·r^(-1/6), 1, 5)). Those become 2·h."""
    return np.where(H > h * (1 + 1e-12), 2 * h, H)


def assert_same(ref, ys, Hs, stalled, h):
    ys_ref, Hs_ref, noise_H, noise_y, _ = ref
    Hs, Hs_ref = effective(Hs, h), effective(Hs_ref, h)
    assert ys.dtype == np.float64 and Hs.dtype == np.float64
    assert not stalled.any()
    # Each component relative to itself, or to 1e-3 of the neuron's largest component when
    # it is smaller than that; plus the state noise estimated within the step.
    size = np.max(np.abs(ys_ref), axis=2, keepdims=True)
    tol = (Y_FLOOR * np.maximum(np.abs(ys_ref), 1e-3 * size)
           + Y_NOISE * noise_y[..., None])
    y_err = np.abs(ys - ys_ref) / np.maximum(tol, 1e-300)
    assert y_err.max() <= 1.0, (
        f"state differs by {y_err.max():.3g} x its tolerance at (step, neuron, component) "
        f"{np.unravel_index(np.argmax(y_err), y_err.shape)}")
    H_err = np.abs(Hs - Hs_ref) / Hs_ref / (H_FLOOR + H_NOISE * noise_H)
    assert H_err.max() <= 1.0, (
        f"H differs by {H_err.max():.3g} x its tolerance at (step, neuron) "
        f"{np.unravel_index(np.argmax(H_err), H_err.shape)}")


# ================================================================ tests
N_CHOICES = (1, 6)   # two shapes only: every example reuses one of two compilations
N_STEPS = 6


@st.composite
def problems(draw):
    n = draw(st.sampled_from(N_CHOICES))

    def per_neuron(lo, hi, shape=n):
        x = draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi)))
        # Exact zeros are kept, but no tiny magnitudes: XLA's CPU code flushes subnormal
        # numbers to zero, GSL does not, and tiny values decay into subnormals.
        return np.where(np.abs(x) < 1e-3, 0.0, x)

    a = 10.0 ** per_neuron(-2.0, 0.5)                # membrane rate (1/ms)
    b = per_neuron(-3.0, 3.0)
    tau = 10.0 ** per_neuron(-1.0, 1.0)              # 0.1 .. 10 ms
    # One common scale spans quiet populations (every neuron on GSL's "grow by 5" path, which
    # advance takes without pow) and loud ones (rejections, several sub-steps per step).
    scale = 10.0 ** draw(st.floats(-6.0, 2.0))
    y0 = np.stack([per_neuron(-8.0, 2.0), per_neuron(-10.0, 10.0),
                   per_neuron(-10.0, 10.0)], axis=1) * scale
    h = draw(st.sampled_from([0.01, 0.1, 0.25, 1.0]))
    H0 = h * 10.0 ** per_neuron(-3.0, 1.0)
    kicks = per_neuron(-1.0, 1.0, (N_STEPS, n)) * scale * draw(st.sampled_from([0.0, 1.0, 30.0]))
    eps_abs = 10.0 ** draw(st.floats(-6.0, -2.0))
    return (a, b, tau), y0, H0, kicks, h, eps_abs


@settings(max_examples=30, deadline=None)
@given(problems())
def test_every_step_of_advance_matches_gsl_evolve_loop(problem):
    ys, Hs, stalled = run_jax(*problem)
    ref = run_oracle(*problem, restart=(ys, Hs))
    assert_same(ref, ys, Hs, stalled, problem[4])
    # The adaptive loop on gathered batches of 2 neurons does the same arithmetic per neuron.
    ys_c, Hs_c, stalled_c = run_jax(*problem, compact=2)
    np.testing.assert_array_equal(ys_c, ys)
    np.testing.assert_array_equal(Hs_c, Hs)
    np.testing.assert_array_equal(stalled_c, stalled)


def _fixed_problem(scale, kick, n_steps=N_STEPS):
    rng = np.random.default_rng(7)
    n = 6
    params = (10.0 ** rng.uniform(-2, 0.5, n), rng.uniform(-3, 3, n),
              10.0 ** rng.uniform(-1, 0, n))
    y0 = np.stack([rng.uniform(-8, 2, n), rng.uniform(-10, 10, n),
                   rng.uniform(-10, 10, n)], axis=1) * scale
    H0 = 0.1 * 10.0 ** rng.uniform(-1, 1, n)
    kicks = rng.uniform(-1, 1, (n_steps, n)) * kick
    return params, y0, H0, kicks, 0.1, 1e-3


def test_quiet_trajectory_takes_one_trial_per_step():
    """Tiny states: after the first step every neuron covers each step in one trial and GSL
    grows H by the full factor 5 (advance's pow-free path). Free-running trajectories."""
    problem = _fixed_problem(1e-6, 0.0)
    ref = run_oracle(*problem)
    ys_ref, Hs_ref, _, _, stats = ref
    assert stats["rejections"] == 0
    assert np.all(Hs_ref[1:] == 5 * 0.1)
    ys, Hs, stalled = run_jax(*problem)
    assert np.all(Hs[1:] == 5 * 0.1)
    assert not stalled.any()
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-12, atol=0)


def test_loud_trajectory_rejects_and_subdivides():
    """Large states and kicks: rejections and several sub-steps per step, different numbers
    for different neurons, so the adaptive loop runs with per-neuron masks (on all neurons,
    and on gathered batches of 1 and 4 of the 6 neurons). Free-running
    trajectories (measured on an AVX-512 machine: 4e-14 in the state, 6e-10 in H, the noise of
    the error estimate) and every step from the same input."""
    problem = _fixed_problem(100.0, 1e4)
    ys_ref, Hs_ref, _, _, stats = run_oracle(*problem)
    h = problem[4]
    n = len(problem[2])
    assert stats["rejections"] > 0
    assert stats["substeps"] > 2 * n * N_STEPS
    for compact in (None, 1, 4):
        ys, Hs, stalled = run_jax(*problem, compact=compact)
        assert not stalled.any()
        np.testing.assert_allclose(ys, ys_ref, rtol=1e-11, atol=0)
        np.testing.assert_allclose(effective(Hs, h), effective(Hs_ref, h), rtol=1e-7, atol=0)
        # and step by step, with the noise-aware tolerances of the property test
        assert_same(run_oracle(*problem, restart=(ys, Hs)), ys, Hs, stalled, h)


# rmax of the first trial -> what GSL does: grow by the full 5 (clip), grow by pow (a lone 1e-4
# also keeps advance off its pow-free path, whose threshold is 3.4e-5), grow by a little, keep h
# (NIL), accept with 1 < rmax <= 1.1, reject, reject by the floor factor 0.2.
CONTROL_CASES = [1e-6, 1e-4, 0.3, 0.45, 0.55, 1.05, 1.2, 50.0, 3000.0]


@pytest.mark.parametrize("rmax", CONTROL_CASES)
def test_each_branch_of_the_controller(rmax):
    """One neuron whose first trial (the whole step, H0 > h) has a chosen error ratio: eps_abs
    is set from the oracle's error estimate. Checks every region of GSL's control law."""
    h = 0.1
    params = (np.array([0.3]), np.array([2.0]), np.array([0.5]))
    y0 = np.array([[-60.0, 40.0, 5.0]])
    f, _ = oracle_rhs(*(float(p[0]) for p in params))
    _, yerr, _ = rkf45_apply(f, list(y0[0]), h, f(list(y0[0])))
    eps_abs = max(abs(e) for e in yerr) / rmax
    problem = params, y0, np.array([1.0]), np.zeros((N_STEPS, 1)), h, eps_abs
    ys, Hs, stalled = run_jax(*problem)
    ys_ref, Hs_ref, _, _, stats = run_oracle(*problem)
    assert (stats["rejections"] > 0) == (rmax > 1.1)
    np.testing.assert_allclose(ys, ys_ref, rtol=1e-11, atol=0)
    np.testing.assert_allclose(effective(Hs, h), effective(Hs_ref, h), rtol=1e-7, atol=0)
    assert_same(run_oracle(*problem, restart=(ys, Hs)), ys, Hs, stalled, h)


def test_oracle_is_an_accurate_integrator():
    """The oracle itself against the exact solution (matrix exponential) of the linear system."""
    n_steps = 20
    params, y0, H0, kicks, h, eps_abs = _fixed_problem(100.0, 0.0, n_steps)
    ys_ref, _, _, _, stats = run_oracle(params, y0, H0, kicks, h, eps_abs)
    assert stats["rejections"] > 0
    for j in range(len(H0)):
        a, b, tau = (p[j] for p in params)
        M = np.array([[-a, 0.0, b], [0.0, -1.0 / tau, 0.0], [0.0, 1.0, -1.0 / tau]])
        exact = scipy.linalg.expm(M * (h * n_steps)) @ y0[j]
        # GSL keeps the local error of the embedded 4th-order solution below eps_abs per
        # sub-step, and the propagated 5th-order one is better: a generous global bound.
        assert np.max(np.abs(ys_ref[-1, j] - exact)) < eps_abs * stats["trials"]
