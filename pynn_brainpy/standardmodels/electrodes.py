"""PyNN's standard current sources for pynn_brainpy: DCSource, StepCurrentSource, ACSource and
NoisyCurrentSource.

Units are PyNN's (nA, ms, Hz, degrees) and so are the stored ("native") values: the
translations are the identity, and the engine scales nA to each target model's unit
(``celltype.current_scale``, 1000 for :class:`~pynn_brainpy.GLIF_cond`, whose model takes pA).

Each source is a function of the step ``k`` (``t = k·dt``) giving the current in effect on
``[t, t + dt)``; the cells respond from ``t + dt`` on (PyNN's convention, which pyNN.nest gets
by moving NEST's device times one ``min_delay`` earlier). Times are rounded to the nearest
step (PyNN's ``_round_timestamp``); ``k_start = round(start/dt)``, ``k_stop = round(stop/dt)``.

==================  ============================================================================
DCSource            ``amplitude`` for ``k_start <= k < k_stop``, else 0 (the current is on at
                    ``start`` and off at ``stop``, as in pyNN.nest / pyNN.neuron / pyNN.brian2)
StepCurrentSource   ``amplitudes[i]`` from ``times[i]`` to the next time; 0 before the first;
                    the last value holds to the end. Times must be >= 0 and strictly
                    increasing; after rounding, a step that shares a time with a later one is
                    dropped (the later value wins), as in PyNN's other backends.
ACSource            ``offset + amplitude·sin(2π·frequency·(t − t_start)/1000 + phase·π/180)``
                    for ``k_start <= k < k_stop`` (``t_start = k_start·dt``), else 0: ``phase``
                    (degrees) is the phase at ``start`` (PyNN's definition, PyNN issue #497;
                    pyNN.nest shifts NEST's ``ac_generator`` phase for the same result). NEST
                    iterates the sine as a rotation per step; we evaluate it in closed form at
                    the step times (the values agree to rounding).
NoisyCurrentSource  ``mean + stdev·z_j`` for ``k_start <= k < k_stop``, else 0, with
                    ``j = (k − k_start) // n`` and ``n = dt/timestep``: a new value every ``dt``
                    ms, counted from ``start`` (as NEST's ``noise_generator``). The ``z_j`` are
                    standard normal draws from NumPy's Philox keyed by (``rng_seed`` of
                    ``setup``, creation index of the source): reproducible, independent of
                    chunking and the same after ``reset()``. All targets get the same value
                    (as pyNN.brian2 / pyNN.neuron; NEST draws per target).
==================  ============================================================================
"""

import numpy as np
from pyNN import errors
from pyNN.standardmodels import build_translations, electrodes

from .. import simulator
from ..electrodes import CurrentSource, _check_finite

__all__ = ["DCSource", "StepCurrentSource", "ACSource", "NoisyCurrentSource"]


def _check_interval(source, params):
    """start finite, stop >= start (stop may be +inf)."""
    _check_finite(source._name, params, ["start"])
    if np.isnan(params["stop"]) or params["stop"] < params["start"]:
        raise errors.InvalidParameterValueError(
            f"{source._name}: stop must be >= start (start={params['start']} ms), "
            f"got stop={params['stop']} ms.")


def _window(source, params, k):
    """(active mask, k_start) for whole steps k."""
    k_start = source._steps(params["start"])
    return (k >= k_start) & (k < source._steps(params["stop"])), k_start


class DCSource(CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__

    translations = build_translations(
        ("amplitude", "amplitude"),
        ("start", "start"),
        ("stop", "stop"),
    )

    def _validate(self, params):
        _check_finite(self._name, params, ["amplitude"])
        _check_interval(self, params)
        return params

    def _values(self, params, k):
        active, _ = _window(self, params, k)
        return np.where(active, params["amplitude"], 0.0)


class StepCurrentSource(CurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__

    translations = build_translations(
        ("amplitudes", "amplitudes"),
        ("times", "times"),
    )
    _sequences = ("amplitudes", "times")

    def _validate(self, params):
        times, amplitudes = params["times"], params["amplitudes"]
        _check_finite(self._name, params, ["times", "amplitudes"])
        if times.size != amplitudes.size:
            raise errors.InvalidParameterValueError(
                f"{self._name}: times and amplitudes must have the same length, got "
                f"{times.size} times and {amplitudes.size} amplitudes.")
        if times.size and times.min() < 0:
            raise errors.InvalidParameterValueError(
                f"{self._name}: times must be >= 0 ms, got {times.tolist()}.")
        if times.size > 1 and np.min(np.diff(times)) <= 0:
            raise errors.InvalidParameterValueError(
                f"{self._name}: times must be strictly increasing, got {times.tolist()}.")
        # to the grid; of the steps that fall on the same grid time the last one wins
        steps = self._steps(times)
        keep = np.append(steps[1:] != steps[:-1], True) if steps.size else steps.astype(bool)
        params = dict(params)
        params["times"] = steps[keep] * self._timestep
        params["amplitudes"] = amplitudes[keep].copy()
        return params

    def _values(self, params, k):
        steps = self._steps(params["times"])
        i = np.searchsorted(steps, k, side="right") - 1
        amplitudes = np.append(params["amplitudes"], 0.0)    # index -1: before the first
        return amplitudes[i]


class ACSource(CurrentSource, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__

    translations = build_translations(
        ("amplitude", "amplitude"),
        ("start", "start"),
        ("stop", "stop"),
        ("frequency", "frequency"),
        ("offset", "offset"),
        ("phase", "phase"),
    )

    def _validate(self, params):
        _check_finite(self._name, params, ["amplitude", "frequency", "offset", "phase"])
        _check_interval(self, params)
        return params

    def _values(self, params, k):
        active, k_start = _window(self, params, k)
        since_start = np.where(active, k - k_start, 0.0) * self._timestep     # ms
        value = params["offset"] + params["amplitude"] * np.sin(
            2.0 * np.pi * params["frequency"] * since_start / 1000.0
            + params["phase"] * np.pi / 180.0)
        return np.where(active, value, 0.0)


class NoisyCurrentSource(CurrentSource, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__

    translations = build_translations(
        ("mean", "mean"),
        ("start", "start"),
        ("stop", "stop"),
        ("stdev", "stdev"),
        ("dt", "dt"),
    )
    _BLOCK = 4096              # draws per cached block

    def __init__(self, rng=None, **parameters):
        """``dt`` defaults to the simulation time step. ``rng``: a ``pyNN.random`` RNG
        whose integer ``seed`` (if any) replaces ``setup``'s ``rng_seed`` in the key of the
        draws; the draws themselves always come from NumPy's Philox."""
        seed = getattr(rng, "seed", None)
        self._seed = int(seed if isinstance(seed, (int, np.integer))
                         else simulator.state.rng_seed)
        self._blocks = {}
        parameters.setdefault("dt", simulator.state.dt)
        super().__init__(**parameters)

    def _validate(self, params):
        _check_finite(self._name, params, ["mean", "stdev", "dt"])
        _check_interval(self, params)
        if params["stdev"] < 0:
            raise errors.InvalidParameterValueError(
                f"{self._name}: stdev must be >= 0 nA, got {params['stdev']}.")
        ratio = params["dt"] / self._timestep
        if ratio < 1 - 1e-9 or abs(ratio - np.rint(ratio)) > 1e-9 * max(1.0, ratio):
            raise errors.InvalidParameterValueError(
                f"{self._name}: dt must be a positive multiple of the time step "
                f"({self._timestep} ms), got {params['dt']} ms.")
        return params

    def _normals(self, j):
        """Standard normal draw number ``j`` (int array) of this source."""
        out = np.empty(j.shape)
        block = j // self._BLOCK
        for b in np.unique(block):
            if b not in self._blocks:
                key = ((self._seed % 2**64) << 64) | self._index
                bitgen = np.random.Philox(key=key, counter=int(b) << 128)
                self._blocks[b] = np.random.Generator(bitgen).standard_normal(self._BLOCK)
            sel = block == b
            out[sel] = self._blocks[b][j[sel] % self._BLOCK]
        return out

    def _values(self, params, k):
        active, k_start = _window(self, params, k)
        n = np.rint(params["dt"] / self._timestep)
        j = (np.where(active, k - k_start, 0.0) // n).astype(np.int64)
        value = params["mean"] + params["stdev"] * self._normals(j[active])
        out = np.zeros(k.shape)
        out[active] = value
        return out
