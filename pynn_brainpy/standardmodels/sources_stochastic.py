"""Stochastic spike sources beyond Poisson: SpikeSourceGamma, SpikeSourcePoissonRefractory and
SpikeSourceInhGamma, computed inside the compiled simulation as engine ``GeneratorGroup`` s.

Common to all three (as for SpikeSourcePoisson, see ``sources.py``):

* Each source cell emits one spike train of its own (PyNN's backends do this with one
  generator output per parrot neuron).
* Time grid: step ``m`` covers ``(m·dt, (m+1)·dt]`` and its spikes have the time ``t = (m+1)·dt``
  (NEST's stamps). A cell is active in the steps whose spike time lies in
  ``(start, start + duration]``, the same rule as NEST's ``StimulationDevice::is_active`` and
  our SpikeSourcePoisson. Outside that window the process is frozen (its state does not
  advance), as a NEST device whose ``event_hook`` is not called.
* Randomness: the engine's counter-based key of the step and group, derived from
  ``setup(rng_seed=...)``. The trains do not depend on how a run is split into chunks; a
  ``reset()`` restores the initial state and replays the same trains; another seed gives other
  trains.
* Parameters are arguments of the compiled step (a change between runs does not recompile);
  the carried process state is kept across such a change, as NEST keeps a generator's internal
  state when its parameters are set during a simulation break.

The per-model algorithms, what each mirrors and where it departs, are in the class docstrings.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaincc
from pyNN import errors
from pyNN.standardmodels import build_translations, cells

from ..engine import network as engine
from .sources import as_sequences

__all__ = ["SpikeSourceGamma", "SpikeSourcePoissonRefractory", "SpikeSourceInhGamma"]

# The most spikes one gamma cell may emit in a single step (a bound on the while loop; it is
# reached only for absurd rates, e.g. beta·dt far above alpha·1000). Spikes beyond it are
# emitted in the following steps, so none is lost.
_MAX_SPIKES_PER_STEP = 64


def _column(p, name, cls):
    v = np.asarray(p[name], float)
    if np.any(np.isnan(v)):
        raise errors.InvalidParameterValueError(f"{cls}: {name} must be a number (got NaN).")
    return v


def _check_start_duration(p, cls):
    start = _column(p, "start", cls)
    if not np.all(np.isfinite(start)) or np.any(start < 0):
        raise errors.InvalidParameterValueError(
            f"{cls}: start must be a finite number >= 0 ms (got {start.min()}).")
    duration = _column(p, "duration", cls)
    if np.any(duration < 0):
        raise errors.InvalidParameterValueError(
            f"{cls}: duration must be >= 0 ms (got {duration.min()}).")


def _window(size, p):
    start = np.asarray(p["start"], float)
    return {"start": np.broadcast_to(start, (size,)),
            "stop": np.broadcast_to(start + np.asarray(p["duration"], float), (size,))}


def _active(t, params):
    return (t > params["start"]) & (t <= params["stop"])


# ============================================================================ gamma
def _gamma_generate(key, t, params, r):
    """One step of the gamma renewal process in operational time (see SpikeSourceGamma)."""
    dtype = r.dtype
    alpha = params["alpha"].astype(dtype)
    active = _active(t, params)
    k_init, k_loop = jax.random.split(key)

    fresh = active & jnp.isnan(r)

    def equilibrium(r):
        ku, kg = jax.random.split(k_init)
        length = jax.random.gamma(kg, alpha + 1.0, dtype=dtype)    # length-biased interval
        return jnp.where(fresh, jax.random.uniform(ku, r.shape, dtype) * length, r)

    r = jax.lax.cond(jnp.any(fresh), equilibrium, lambda r: r, r)
    r = jnp.where(active, r - params["lam"].astype(dtype), r)

    def due(r):
        return active & (r <= 0)

    def more(carry):
        i, r, _ = carry
        return (i < _MAX_SPIKES_PER_STEP) & jnp.any(due(r))

    def next_spike(carry):
        i, r, n = carry
        d = due(r)
        interval = jax.random.gamma(jax.random.fold_in(k_loop, i), alpha, dtype=dtype)
        return i + 1, jnp.where(d, r + interval, r), n + d.astype(jnp.int32)

    _, r, n = jax.lax.while_loop(more, next_spike,
                                 (jnp.int32(0), r, jnp.zeros(r.shape, jnp.int32)))
    return n, r


class SpikeSourceGamma(cells.SpikeSourceGamma):
    __doc__ = cells.SpikeSourceGamma.__doc__ + """
    pynn_brainpy: a gamma renewal process. Inter-spike intervals are Gamma(alpha, rate beta),
    i.e. shape ``alpha`` and scale ``1000/beta`` ms: mean ``1000·alpha/beta`` ms, coefficient
    of variation ``1/sqrt(alpha)``. ``alpha`` may be any number > 0 (``alpha = 1`` is Poisson).

    Algorithm. Each cell carries ``r``, the time left until its next spike in *operational
    time* (units of ``1/beta``). Every active step ``r`` decreases by ``beta·dt/1000``; when
    it reaches 0 the cell spikes in that step and a new interval ``G ~ Gamma(alpha, 1)`` is
    added (repeatedly, so several spikes in one step are emitted with that multiplicity).
    A spike is thus emitted in the step that contains its exact continuous time.
    At the start the process is in equilibrium: the first ``r`` is the forward recurrence
    time of the stationary renewal process, ``U · Gamma(alpha + 1, 1)`` with ``U`` uniform.

    Mirrors pyNN.nest's ``gamma_sup_generator`` (``n_proc = 1``; ``gamma_shape = alpha``,
    ``rate = beta/alpha``): a cell passing through ``alpha`` phases, each exponential with
    rate ``beta``, a spike at the passage from the last phase to the first; a change of
    ``beta`` between runs keeps the phase reached (here: keeps ``r``, the remaining
    operational time), and a changed ``alpha`` applies from the next interval on.
    Departs from it: (1) NEST advances at most one phase per step with probability
    ``beta·dt/1000`` (each phase lasts a geometric number of steps, an O(beta·dt) distortion
    of the interval distribution, and undefined for ``beta·dt >= 1000``); here the sum of the
    phases is drawn exactly and only the spike time is rounded up to the grid. (2) NEST
    requires an integer shape; here any ``alpha > 0`` (as pyNN.neuron's GammaStim; the
    default is the float 2.0 rather than PyNN's int 2, whose int schema would truncate
    ``alpha = 2.5`` to 2 before any backend sees it). (3) NEST
    with one process starts it in its last phase (first interval exponential), a degenerate
    case of its "approximate equilibrium" initial occupation; here the start is the exact
    equilibrium, so the rate is ``beta/alpha`` from the first step. (4) ``start`` and
    ``duration``, which pyNN.nest does not support for this model, are honoured.
    """
    # PyNN's default alpha is the int 2, which makes PyNN's parameter schema an int and would
    # silently truncate alpha = 2.5 to 2; a float default keeps non-integer shapes.
    default_parameters = dict(cells.SpikeSourceGamma.default_parameters, alpha=2.0)
    translations = build_translations(("alpha", "alpha"), ("beta", "beta"),
                                      ("start", "start"), ("duration", "duration"))

    @staticmethod
    def check_parameters(p):
        cls = "SpikeSourceGamma"
        alpha = _column(p, "alpha", cls)
        if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
            raise errors.InvalidParameterValueError(
                f"{cls}: alpha (the shape of the gamma distribution) must be a finite number "
                f"> 0 (got {alpha.min() if np.all(np.isfinite(alpha)) else 'inf'}).")
        beta = _column(p, "beta", cls)
        if not np.all(np.isfinite(beta)) or np.any(beta < 0):
            raise errors.InvalidParameterValueError(
                f"{cls}: beta (the rate parameter of the gamma distribution, Hz) must be a "
                f"finite number >= 0 (got {beta.min()}).")
        _check_start_duration(p, cls)

    @staticmethod
    def generator_group(size, p, dt):
        params = {"alpha": np.broadcast_to(np.asarray(p["alpha"], float), (size,)),
                  "lam": np.broadcast_to(np.asarray(p["beta"], float) * dt / 1000.0, (size,)),
                  **_window(size, p)}
        return engine.GeneratorGroup(size, _gamma_generate, params,
                                     initial_state=np.full(size, np.nan))


# ============================================================================ Poisson + dead time
def _ppd_generate(key, t, params, since):
    """One step of the Poisson process with dead time (see SpikeSourcePoissonRefractory)."""
    active = _active(t, params)
    since = jnp.where(active, since + 1.0, since)
    spike = active & (since > params["dead_steps"]) & (
        jax.random.uniform(key, since.shape, params["p"].dtype) < params["p"])
    return spike.astype(jnp.int32), jnp.where(spike, jnp.zeros_like(since), since)


class SpikeSourcePoissonRefractory(cells.SpikeSourcePoissonRefractory):
    __doc__ = cells.SpikeSourcePoissonRefractory.__doc__ + """
    pynn_brainpy: a Poisson process with dead time ``tau_refrac``; ``rate`` is the mean rate
    including the dead time, so inter-spike intervals are ``tau_refrac`` plus an exponential
    interval of mean ``1000/rate - tau_refrac`` ms (on the grid, see below).

    Algorithm, step by step as NEST's ``ppd_sup_generator`` with ``n_proc = 1`` (what
    pyNN.nest maps this cell type to, ``dead_time = tau_refrac``, no rate modulation):
    the dead time covers ``n = int(tau_refrac/dt)`` steps (NEST's ``num_age_bins``, a
    floating-point quotient truncated); the hazard per step is
    ``p = dt / (1000/rate - tau_refrac)`` (NEST's ``hazard_step_``). Each cell carries the
    number of active steps since its last spike (initially infinite: NEST starts the process
    active). In an active step the count goes up by one, and a cell whose count exceeds ``n``
    spikes with probability ``p``; a spike sets the count to 0. So the interval between two
    spikes is ``n`` steps plus a geometric number (>= 1, mean ``1/p``) of steps, which is
    never shorter than ``tau_refrac`` and has the mean ``n·dt + 1000/rate - tau_refrac``.
    This is NEST's own discrete-time algorithm (a Bernoulli draw replaces NEST's binomial of
    one trial); it departs only in honouring ``start``/``duration`` (pyNN.nest does not
    support them here) and in keeping the count when ``tau_refrac`` changes between runs
    (NEST keeps its old number of age bins). ``rate · tau_refrac`` must be below 1000 (NEST:
    "the inverse rate has to be larger than the dead time") and ``p <= 1``
    (``1000/rate - tau_refrac >= dt``).
    """
    translations = build_translations(("rate", "rate"), ("tau_refrac", "tau_refrac"),
                                      ("start", "start"), ("duration", "duration"))

    @staticmethod
    def check_parameters(p):
        cls = "SpikeSourcePoissonRefractory"
        rate = _column(p, "rate", cls)
        if not np.all(np.isfinite(rate)) or np.any(rate < 0):
            raise errors.InvalidParameterValueError(
                f"{cls}: rate must be a finite number >= 0 Hz (got {rate.min()}).")
        tau = _column(p, "tau_refrac", cls)
        if not np.all(np.isfinite(tau)) or np.any(tau < 0):
            raise errors.InvalidParameterValueError(
                f"{cls}: tau_refrac must be a finite number >= 0 ms (got {tau.min()}).")
        rate, tau = np.broadcast_arrays(rate, tau)
        bad = (rate > 0) & (rate * tau >= 1000.0)
        if np.any(bad):
            i = int(np.flatnonzero(bad.ravel())[0])
            raise errors.InvalidParameterValueError(
                f"{cls}: the mean interval 1000/rate must be longer than tau_refrac "
                f"(got rate = {rate.ravel()[i]} Hz, tau_refrac = {tau.ravel()[i]} ms).")
        _check_start_duration(p, cls)

    @staticmethod
    def generator_group(size, p, dt):
        rate = np.broadcast_to(np.asarray(p["rate"], float), (size,))
        tau = np.broadcast_to(np.asarray(p["tau_refrac"], float), (size,))
        with np.errstate(divide="ignore"):
            free_interval = np.where(rate > 0, 1000.0 / np.where(rate > 0, rate, 1.0) - tau,
                                     np.inf)
        hazard = dt / free_interval
        if np.any(hazard > 1.0):
            i = int(np.argmax(hazard))
            raise errors.InvalidParameterValueError(
                f"SpikeSourcePoissonRefractory: 1000/rate - tau_refrac must be at least the "
                f"time step {dt} ms (cell {i}: rate = {rate[i]} Hz, tau_refrac = {tau[i]} ms).")
        params = {"p": hazard, "dead_steps": np.floor(tau / dt), **_window(size, p)}
        return engine.GeneratorGroup(size, _ppd_generate, params,
                                     initial_state=np.full(size, np.inf))


# ============================================================================ inhomogeneous gamma
def _inh_gamma_generate(key, t, params, last):
    """One step of the inhomogeneous gamma process (see SpikeSourceInhGamma)."""
    dtype = last.dtype
    dt = params["dt"].astype(dtype)
    t0 = jnp.asarray(t, dtype) - dt                       # start of the step, per cell
    tbins = params["tbins"].astype(dtype)
    k = jnp.sum(tbins <= t0[:, None], axis=1) - 1
    in_bins = k >= 0
    kk = jnp.maximum(k, 0)[:, None]
    a = jnp.take_along_axis(params["a"].astype(dtype), kk, axis=1)[:, 0]
    b = jnp.take_along_axis(params["b"].astype(dtype), kk, axis=1)[:, 0] * 1000.0   # ms
    age = jnp.maximum(t0 - last, 0.0)
    s0 = gammaincc(a, age / b)
    s1 = gammaincc(a, (age + dt) / b)
    tiny = jnp.sqrt(jnp.finfo(dtype).tiny)
    # survival over the step; deep in the tail the hazard is 1/b (for every shape a)
    keep = jnp.where(s0 > tiny, s1 / jnp.where(s0 > tiny, s0, 1.0), jnp.exp(-dt / b))
    active = _active(t, params) & in_bins
    spike = active & (jax.random.uniform(key, last.shape, dtype) < 1.0 - keep)
    return spike.astype(jnp.int32), jnp.where(spike, jnp.asarray(t, dtype), last)


class SpikeSourceInhGamma(cells.SpikeSourceInhGamma):
    __doc__ = cells.SpikeSourceInhGamma.__doc__ + """
    pynn_brainpy: the process PyNN defines (NeuroTools' ``inh_gamma_generator`` and NEST 2's
    ``inh_gamma_generator`` by E. Muller, which pyNN.nest maps this cell type to but which
    NEST 3 no longer has): a point process whose hazard at time ``t`` is the hazard of a
    gamma distribution with shape ``a(t)`` and scale ``b(t)`` (seconds) at the age
    ``t - t_last`` (time since the last spike). ``a(t), b(t)`` are piecewise constant:
    ``a[i], b[i]`` hold on ``[tbins[i], tbins[i+1])`` (ms), the last pair from its bin on;
    before ``tbins[0]`` the cell is silent. With constant ``a, b`` it is a gamma renewal
    process of rate ``1/(a·b)`` Hz; ``a = 1`` is Poisson with rate ``1/b``.

    Algorithm. Muller's generators sample this hazard by thinning a Poisson process of rate
    ``max(1/b)`` (the bound of a gamma hazard with ``a >= 1``). On the grid the hazard is
    sampled exactly instead: each cell carries the time of its last spike (initially 0 ms,
    as both of Muller's generators); in an active step of start ``t0`` it spikes with the
    probability ``1 - S(age + dt)/S(age)``, ``S`` the gamma survival function
    (``gammaincc(a, x/b)``) with the ``a, b`` in effect at ``t0`` and ``age = t0 - t_last``
    -- the exact probability of a spike within the step under those parameters. (Deep in
    the tail, where ``S`` underflows, the hazard's limit ``1/b`` is used.) Departures: at
    most one spike per step, stamped at the end of the step, and the age counts from that
    stamp; the parameters are read at the start of each step (exact when ``tbins`` are on
    the grid); ``a`` may be below 1 (no thinning bound is needed).
    """
    translations = build_translations(("a", "a"), ("b", "b"), ("tbins", "tbins"),
                                      ("start", "start"), ("duration", "duration"))

    @staticmethod
    def _histograms(p):
        cls = "SpikeSourceInhGamma"
        a, b, tbins = (as_sequences(p[name]) for name in ("a", "b", "tbins"))
        for i, (ai, bi, ti) in enumerate(zip(a, b, tbins)):
            if not (len(ai) == len(bi) == len(ti)):
                raise errors.InvalidParameterValueError(
                    f"{cls}: a, b and tbins of cell {i} must have the same length "
                    f"(got {len(ai)}, {len(bi)}, {len(ti)}).")
            if len(ti) == 0:
                raise errors.InvalidParameterValueError(
                    f"{cls}: tbins of cell {i} is empty; give at least one time bin.")
            if not np.all(np.isfinite(ti)) or np.any(ti < 0):
                raise errors.InvalidParameterValueError(
                    f"{cls}: tbins of cell {i} must be finite times >= 0 ms.")
            if np.any(np.diff(ti) <= 0):
                raise errors.InvalidParameterValueError(
                    f"{cls}: tbins of cell {i} must be strictly increasing.")
            if not np.all(np.isfinite(ai)) or np.any(ai <= 0):
                raise errors.InvalidParameterValueError(
                    f"{cls}: a (gamma shape) of cell {i} must be finite and > 0.")
            if np.any(np.isnan(bi)) or np.any(bi <= 0):
                raise errors.InvalidParameterValueError(
                    f"{cls}: b (gamma scale, s) of cell {i} must be > 0.")
        return a, b, tbins

    @classmethod
    def check_parameters(cls, p):
        cls._histograms(p)
        _check_start_duration(p, "SpikeSourceInhGamma")

    @classmethod
    def generator_group(cls, size, p, dt):
        a, b, tbins = cls._histograms(p)
        if len(a) == 1 and size > 1:
            a, b, tbins = a * size, b * size, tbins * size
        width = max(len(x) for x in tbins)

        def pad(rows, fill):
            out = np.full((size, width), fill, float)
            for i, row in enumerate(rows):
                out[i, :len(row)] = row
            return out
        params = {"a": pad(a, 1.0), "b": pad(b, 1.0), "tbins": pad(tbins, np.inf),
                  "dt": np.full(size, float(dt)), **_window(size, p)}
        return engine.GeneratorGroup(size, _inh_gamma_generate, params,
                                     initial_state=np.zeros(size))
