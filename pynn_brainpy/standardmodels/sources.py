"""Spike sources: PyNN's SpikeSourceArray and SpikeSourcePoisson on the engine's source groups.

Timing is NEST's: a spike at time ``t`` is emitted in the step that ends at ``t`` (its stamp is
``t``) and reaches a target over a delay ``d`` at ``t + d``. Times are rounded to the grid,
except with ``spike_precision="off_grid"``: then a time inside a step is kept as the step that
ends after it plus an offset (NEST's ``spike_generator`` with ``precise_times`` and
``poisson_generator_ps``, as pyNN.nest uses them).
Poisson sources draw one spike train per source cell (as PyNN's backends do with parrot
neurons) from counter-based JAX keys derived from ``setup(rng_seed=...)``: the trains do not
depend on how a run is split into chunks, and ``reset()`` replays them.
"""

import numpy as np
from pyNN import errors
from pyNN.parameters import Sequence
from pyNN.standardmodels import build_translations, cells

from ..engine import network as engine
from ..engine.timing import ms_to_steps_round, precise_stamp

__all__ = ["SpikeSourceArray", "SpikeSourcePoisson"]


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = build_translations(("spike_times", "spike_times"))

    @staticmethod
    def emission_steps(spike_times, dt: float, now_step: int, cell: int = 0,
                       precise: bool = False):
        """Steps in which the spikes at ``spike_times`` (ms) are emitted (step ``m`` ends at
        ``(m+1)·dt``). Times must be sorted and not negative; times already past (at or before
        the current time) are never emitted, as in NEST.

        ``precise``: returns ``(steps, offsets)``, stamped as NEST's precise
        ``spike_generator`` does (:func:`~pynn_brainpy.engine.timing.precise_stamp`): a time
        off the grid is emitted in the step that ends after it, with the offset
        ``(m+1)·dt − t``. That difference is exact in floating point (Sterbenz) for every
        time but those in the first half of the first step, so the recorded
        ``(m+1)·dt − offset`` gives ``t`` back."""
        times = np.asarray(getattr(spike_times, "value", spike_times), float).ravel()
        if times.size and not np.all(np.isfinite(times)):
            raise errors.InvalidParameterValueError(
                f"SpikeSourceArray: spike_times of cell {cell} contain non-finite values.")
        if times.size and times.min() < 0:
            raise errors.InvalidParameterValueError(
                f"SpikeSourceArray: spike_times of cell {cell} must not be negative "
                f"(got {times.min()} ms).")
        if np.any(np.diff(times) < 0):
            raise errors.InvalidParameterValueError(
                f"SpikeSourceArray: spike_times of cell {cell} must be sorted in increasing "
                "order.")
        if not precise:
            steps = ms_to_steps_round(np.asarray(times, np.float64).reshape(-1), dt) - 1
            return steps[steps >= now_step]
        stamped = [precise_stamp(t, dt) for t in times]
        stamps = np.array([s for s, _ in stamped], np.int64).reshape(-1)
        offsets = np.array([o for _, o in stamped], np.float64).reshape(-1)
        keep = stamps - 1 >= now_step
        return stamps[keep] - 1, offsets[keep]


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    precise_spikes = True        # off_grid: NEST's poisson_generator_ps
    translations = build_translations(("rate", "rate"), ("start", "start"),
                                      ("duration", "duration"))

    @staticmethod
    def check_parameters(p):
        for name in ("rate", "start", "duration"):
            v = np.asarray(p[name], float)
            if np.any(np.isnan(v)) or (name != "duration" and not np.all(np.isfinite(v))):
                raise errors.InvalidParameterValueError(
                    f"SpikeSourcePoisson: {name} must be a finite number.")
            if np.any(v < 0):
                raise errors.InvalidParameterValueError(
                    f"SpikeSourcePoisson: {name} must be >= 0 (got {v.min()}).")

    @staticmethod
    def generator_group(size, p, dt, precise=False):
        start = np.asarray(p["start"], float)
        return engine.PoissonGroup(size, np.asarray(p["rate"], float), start,
                                   start + np.asarray(p["duration"], float), dt,
                                   precise=precise)


def as_sequences(values):
    """Per-cell spike-time arrays from a stored ``spike_times`` parameter."""
    return [np.asarray(v.value if isinstance(v, Sequence) else v, float)
            for v in np.ravel(np.asarray(values, dtype=object))]
