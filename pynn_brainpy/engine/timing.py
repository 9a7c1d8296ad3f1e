"""Conversions between milliseconds and integer simulation steps, the way NEST does them.

NEST represents time as an integer number of *tics* (``tics_per_ms`` = 1000 by default). A
duration in ms is first rounded to tics, ``tics = floor(t * tics_per_ms + 0.5)``, and only then
converted to steps. Computing ``ceil(t_ref / dt)`` in floating point instead gives one step too
many for many ordinary values (t_ref = 2.47 at dt = 0.01 is 247 steps in NEST, while
``ceil(2.47 / 0.01)`` is 248).
"""

import math

import numpy as np

TICS_PER_MS = 1000.0


def ms_to_tics(t_ms: float, tics_per_ms: float = TICS_PER_MS) -> int:
    """Round a non-negative duration in ms to the nearest tic (half up), as ``nest::Time(ms)``."""
    return int(math.floor(t_ms * tics_per_ms + 0.5))


def tics_per_step(dt_ms: float, tics_per_ms: float = TICS_PER_MS) -> int:
    """Number of tics in one step of resolution ``dt_ms``; the step must be a whole number of tics."""
    tps = ms_to_tics(dt_ms, tics_per_ms)
    if tps < 1 or abs(tps - dt_ms * tics_per_ms) > 1e-6 * max(1.0, tps):
        raise ValueError(
            f"The time step dt = {dt_ms} ms must be a positive multiple of the tic "
            f"(1/{tics_per_ms:g} ms).")
    return tps


def ms_to_steps_ceil(t_ms: float, dt_ms: float, tics_per_ms: float = TICS_PER_MS) -> int:
    """Steps covering ``t_ms``: tic-round, then round *up* to whole steps (``Time::get_steps``).

    This is how NEST turns ``t_ref`` into a refractory step count.
    """
    tps = tics_per_step(dt_ms, tics_per_ms)
    return -(-ms_to_tics(t_ms, tics_per_ms) // tps)


def ms_to_steps_round(t_ms, dt_ms: float):
    """Nearest whole number of steps (NEST's ``delay_ms_to_steps``: ``t · (1/dt)``, half up):
    an int for a number, an int64 array (element by element) for an array."""
    steps = np.floor(np.asarray(t_ms, np.float64) * (1.0 / dt_ms) + 0.5).astype(np.int64)
    return int(steps) if steps.ndim == 0 else steps


def precise_stamp(t_ms: float, dt_ms: float, tics_per_ms: float = TICS_PER_MS):
    """A spike time off the grid as NEST stamps it: ``(steps, offset)`` with ``steps`` the
    first grid point at or after ``t`` (``Time::ms_stamp``: tics truncated to a whole step,
    one step more if that lies before ``t``) and ``offset = steps·dt − t`` in ``[0, dt)``,
    set to 0 when it is below rounding (``spike_generator`` with ``precise_times``)."""
    tps = tics_per_step(dt_ms, tics_per_ms)
    tics = int(t_ms * tics_per_ms)
    steps = (tics - tics % tps) // tps
    if steps * (tps / tics_per_ms) < t_ms:
        steps += 1
    stamp = steps * dt_ms
    offset = stamp - t_ms
    eps, tiny = np.finfo(np.float64).eps, np.finfo(np.float64).tiny
    if abs(offset) < 2.0 * eps * abs(stamp + t_ms) or abs(offset) < tiny:
        offset = 0.0
    return steps, max(offset, 0.0)
