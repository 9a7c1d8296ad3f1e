"""Whole-step Fehlberg trials with a linear sub-system (``engine.rkf45``).

``alpha_factors`` is checked against the stages computed exactly (rational arithmetic) for
the alpha pair ``u' = -λu, w' = u - λw``; ``trial_with_linear_part`` against the stage-by-stage
``rkf45_trial`` on a conductance-based system; ``advance(..., whole_step=...)`` against
``advance`` without it, including neurons whose carried sub-step is shorter than the step (they
take the tableau path), and for independence of a neuron's result from the others'.
"""

from fractions import Fraction

import brainstate
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pynn_brainpy.engine import rkf45

A2 = Fraction(1, 4)
B = [(Fraction(3, 32), Fraction(9, 32)),
     (Fraction(1932, 2197), Fraction(-7200, 2197), Fraction(7296, 2197)),
     (Fraction(8341, 4104), Fraction(-32832, 4104), Fraction(29440, 4104), Fraction(-845, 4104)),
     (Fraction(-6080, 20520), Fraction(41040, 20520), Fraction(-28352, 20520),
      Fraction(9295, 20520), Fraction(-5643, 20520))]
C = (Fraction(902880, 7618050), 0, Fraction(3953664, 7618050), Fraction(3855735, 7618050),
     Fraction(-1371249, 7618050), Fraction(277020, 7618050))
E = (Fraction(1, 360), 0, Fraction(-128, 4275), Fraction(-2197, 75240), Fraction(1, 50),
     Fraction(2, 55))


@pytest.fixture(autouse=True, scope="module")
def x64():
    brainstate.environ.set(precision=64)
    yield


def exact_trial(lam, h, x0):
    """Stages, solution and error of one Fehlberg trial of the alpha pair, in rationals."""
    f = lambda x: (-lam * x[0], x[0] - lam * x[1])
    add = lambda x, coefs, ks: tuple(x[i] + h * sum(c * k[i] for c, k in zip(coefs, ks))
                                     for i in range(2))
    stages = [x0]
    ks = [f(x0)]
    stages.append(add(x0, (A2,), ks))
    ks.append(f(stages[-1]))
    for coefs in B:
        stages.append(add(x0, coefs, ks))
        ks.append(f(stages[-1]))
    sol = add(x0, C, ks)
    err = tuple(h * sum(e * k[i] for e, k in zip(E, ks)) for i in range(2))
    return stages + [sol, err]


@pytest.mark.parametrize("tau, h", [(0.2, 0.1), (2.0, 0.1), (5.0, 0.01), (0.05, 0.1)])
def test_alpha_factors_are_the_exact_stages(tau, h):
    lam = 1.0 / tau
    p, q = rkf45.alpha_factors(np.array([lam]), h)
    lam_q, h_q = Fraction(lam), Fraction(h)
    from_u = exact_trial(lam_q, h_q, (Fraction(1), Fraction(0)))   # column u0 = 1
    from_w = exact_trial(lam_q, h_q, (Fraction(0), Fraction(1)))   # column w0 = 1
    for row in range(8):
        exact_p, exact_q = float(from_w[row][1]), float(from_u[row][1])
        assert float(from_u[row][0]) == pytest.approx(exact_p, rel=1e-15)   # same p
        assert from_w[row][0] == 0                                          # triangular
        if row == rkf45.ERROR:
            # the error estimate is a difference of O(1) terms: absolute, on their scale
            assert abs(p[row, 0] - exact_p) <= 1e-15
            assert abs(q[row, 0] - exact_q) <= 1e-15 * max(h, 1e-300)
        else:
            assert p[row, 0] == pytest.approx(exact_p, rel=1e-14, abs=0)
            assert q[row, 0] == pytest.approx(exact_q, rel=1e-14, abs=0)


def conductance_system(n, seed):
    """Parameters and state of GLIF-like neurons: V driven by two alpha conductances."""
    rng = np.random.default_rng(seed)
    params = {"lam": jnp.asarray(1.0 / rng.uniform(0.2, 5.0, (2, n))),
              "I": jnp.asarray(rng.uniform(0.0, 400.0, n))}
    y = (jnp.asarray(rng.uniform(-90, -40, n)),
         tuple(jnp.asarray(rng.uniform(0, 50, n)) for _ in range(2)),
         tuple(jnp.asarray(rng.uniform(0, 30, n)) for _ in range(2)))
    return params, y


E_REV = (0.0, -85.0)


def rhs_V(V, lin, p):
    dg, g = lin
    return (-9.43 * V - g[0] * (V - E_REV[0]) - g[1] * (V - E_REV[1]) + p["I"]) / 58.72


def rhs(y, p):
    V, dg, g = y
    lam = p["lam"]
    return (rhs_V(V, (dg, g), p), tuple(-lam[k] * dg[k] for k in range(2)),
            tuple(dg[k] - lam[k] * g[k] for k in range(2)))


def whole_step(h):
    """``advance``'s ``whole_step`` for the system above."""
    def trial(y, p):
        fp, fq = rkf45.alpha_factors(np.asarray(p["lam"]), h)
        _, dg, g = y

        def linear(row):
            return (tuple(fp[row, k] * dg[k] for k in range(2)),
                    tuple(fq[row, k] * dg[k] + fp[row, k] * g[k] for k in range(2)))
        (V, lin), (eV, elin) = rkf45.trial_with_linear_part(
            lambda V_s, lin_s: rhs_V(V_s, lin_s, p), y[0], linear, jnp.asarray(h))
        return (V, lin[0], lin[1]), (eV, elin[0], elin[1])
    return trial


def test_trial_with_linear_part_matches_stage_by_stage():
    n, h = 200, 0.1
    p, y = conductance_system(n, 1)
    y_ref, err_ref = rkf45.rkf45_trial(lambda s: rhs(s, p), y, rhs(y, p), jnp.full(n, h))
    (V, dg, g), (eV, edg, eg) = whole_step(h)(y, p)
    np.testing.assert_allclose(V, y_ref[0], rtol=1e-14)
    for ours, ref in zip(dg + g, y_ref[1] + y_ref[2]):
        np.testing.assert_allclose(ours, ref, rtol=1e-14)
    # error estimates are cancellations of O(1) terms: compared on the scale of the state
    np.testing.assert_allclose(eV, err_ref[0], rtol=0, atol=1e-12 * 90)
    for ours, ref in zip(edg + eg, err_ref[1] + err_ref[2]):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * 50)


def test_frozen_neurons_keep_their_state_with_zero_error():
    n, h = 50, 0.1
    p, y = conductance_system(n, 6)
    fp, fq = rkf45.alpha_factors(np.asarray(p["lam"]), h)
    frozen = jnp.asarray(np.arange(n) % 3 == 0)

    def linear(row):
        return (tuple(fp[row, k] * y[1][k] for k in range(2)),
                tuple(fq[row, k] * y[1][k] + fp[row, k] * y[2][k] for k in range(2)))
    rhs_free = lambda V_s, lin_s: rhs_V(V_s, lin_s, p)
    (V, lin), (eV, elin) = rkf45.trial_with_linear_part(rhs_free, y[0], linear,
                                                        jnp.asarray(h), frozen=frozen)
    (V_free, lin_free), (eV_free, _) = rkf45.trial_with_linear_part(
        rhs_free, y[0], linear, jnp.asarray(h))
    f = np.asarray(frozen)
    np.testing.assert_array_equal(np.asarray(V)[f], np.asarray(y[0])[f])
    assert np.all(np.asarray(eV)[f] == 0.0)
    np.testing.assert_array_equal(np.asarray(V)[~f], np.asarray(V_free)[~f])
    np.testing.assert_array_equal(np.asarray(eV)[~f], np.asarray(eV_free)[~f])
    for a, b in zip(jax.tree.leaves(lin), jax.tree.leaves(lin_free)):   # x is not frozen
        np.testing.assert_array_equal(a, b)


def run_advance(y, H, p, h, whole):
    """``advance`` over one step; ``whole_step`` is evaluated on concrete parameters."""
    trial = whole_step(h) if whole else None
    step = lambda y_, H_: rkf45.advance(lambda s, q: rhs(s, q), y_, H_, h, params=p,
                                        whole_step=trial)
    return jax.jit(step)(y, H)


def test_advance_with_whole_step_matches_and_is_local():
    n, h = 300, 0.1
    p, y = conductance_system(n, 2)
    rng = np.random.default_rng(3)
    # a third of the neurons carry a sub-step shorter than the step: they take the tableau path
    H = jnp.asarray(np.where(rng.random(n) < 1 / 3, rng.uniform(0.005, 0.09, n), 5 * h))
    y_w, H_w, st_w = run_advance(y, H, p, h, True)
    y_s, H_s, st_s = run_advance(y, H, p, h, False)
    assert not np.any(st_w) and not np.any(st_s)
    short = np.asarray(H) < h
    for a, b in zip(jax.tree.leaves(y_w), jax.tree.leaves(y_s)):
        np.testing.assert_array_equal(np.asarray(a)[short], np.asarray(b)[short])
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-12)
    eff = lambda x: np.minimum(np.asarray(x), h)   # any carried H above h acts the same
    np.testing.assert_array_equal(eff(H_w)[short], eff(H_s)[short])
    np.testing.assert_allclose(eff(H_w), eff(H_s), rtol=1e-6)

    # a neuron's result depends on its own state only: a few neurons alone end bit-identically
    pick = np.array([0, 1, 2, 7, 11, 50])
    sub = lambda tree: jax.tree.map(lambda leaf: leaf[..., pick], tree)
    y_a, H_a, _ = run_advance(sub(y), H[pick], sub(p), h, True)
    for a, b in zip(jax.tree.leaves(y_a), jax.tree.leaves(sub(y_w))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(H_a, H_w[pick])
