"""Reference runner: simulate NEST 3.10's ``glif_cond`` and return its traces.

Used by the comparison tests to get ground-truth spike times and recordables
from NEST for a scenario (see ``glif_scenarios.py``).  Inputs are given as plain
data; timing follows the spec (``shared/spec/glif_cond.md`` §8):

* a spike ``(i, port, t, w)`` is sent by a ``spike_generator`` at ``t`` and
  makes ``dg_port`` jump at ``t + delay``;
* a current ``(i, start, stop, A)`` is a ``dc_generator``; the
  neuron's ODE sees ``A`` on ``(start + delay, stop + delay]`` and the recorded
  ``I`` equals ``A`` for stamps ``start + delay ... stop + delay - dt``.

Sample ``k`` of every trace carries stamp ``(k + 1) * dt`` (state at the end of
step ``k``).  Importing this module does not import NEST; call
``run_nest_glif`` only where NEST is available (``pytest.importorskip('nest')``).
"""
import os
from collections import defaultdict

import numpy as np

os.environ.setdefault('PYNEST_QUIET', '1')

__all__ = ['run_nest_glif']


def _import_nest():
    import nest
    return nest


def _per_neuron(value, n_neurons, name, shared):
    """Return a list of ``n_neurons`` items: ``value`` repeated if ``shared``, else ``value`` itself."""
    if shared:
        return [value] * n_neurons
    value = list(value)
    if len(value) != n_neurons:
        raise ValueError(f'{name}: got {len(value)} entries for {n_neurons} neurons')
    return value


def _is_flat(seq):
    """True for a flat sequence of numbers (one ASC vector shared by all neurons)."""
    return all(np.ndim(x) == 0 for x in seq)


def run_nest_glif(params, n_neurons, dt, t_sim, spikes=(), currents=(), delay=1.0,
                  asc_state=None, record=('V_m',)):
    """Simulate ``n_neurons`` NEST ``glif_cond`` neurons for ``t_sim`` ms at resolution ``dt``.

    Parameters
    ----------
    params : dict or list of dict
        NEST ``glif_cond`` parameters (NEST names, e.g. ``g_m``, ``V_th``, ``tau_syn``;
        may include the initial absolute ``V_m``).  One dict for all neurons or one per neuron.
    n_neurons : int
    dt, t_sim : float
        Resolution and simulated duration in ms.
    spikes : iterable of (neuron_index, port, time_ms, weight)
        Port is 1-based (NEST ``receptor_type``); times must lie on the dt grid and be > 0.
        Repeated events add up.
    currents : iterable of (neuron_index, start_ms, stop_ms, amplitude_pA)
    delay : float
        Delay (ms) of every input connection.
    asc_state : None, sequence of float, or list of sequences
        Initial after-spike currents, set via the ``ASCurrents`` state key after the
        parameters (NEST ignores ``asc_init``; spec §3).  One vector for all neurons or one
        per neuron.
    record : sequence of str
        Multimeter recordables (``V_m``, ``g_1``, ``threshold``, ``I``, ...).

    Returns
    -------
    dict
        ``times``: sample stamps (ms), ``(k + 1) * dt`` for ``k = 0 .. n_samples - 1``, last
        stamp <= ``t_sim``; ``spikes``: list of ``n_neurons`` sorted arrays of spike times (ms,
        <= ``t_sim``); and for each recorded name an array of shape ``(n_samples, n_neurons)``.
    """
    nest = _import_nest()
    nest.ResetKernel()
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity('M_ERROR')
    nest.SetKernelStatus({'resolution': dt, 'local_num_threads': 1})

    record = list(record)
    neurons = nest.Create('glif_cond', n_neurons)
    per_params = _per_neuron(params, n_neurons, 'params', isinstance(params, dict))
    for nrn, p in zip(neurons, per_params):
        nrn.set(dict(p))
    if asc_state is not None:
        per_asc = _per_neuron(asc_state, n_neurons, 'asc_state', _is_flat(asc_state))
        for nrn, a in zip(neurons, per_asc):
            nrn.set({'ASCurrents': [float(x) for x in a]})

    # One spike_generator per (neuron, port, weight); a repeated time emits several spikes.
    groups = defaultdict(list)
    for i, port, t, w in spikes:
        groups[(int(i), int(port), float(w))].append(float(t))
    for (i, port, w), times in groups.items():
        gen = nest.Create('spike_generator', params={'spike_times': sorted(times),
                                                     'precise_times': False})
        nest.Connect(gen, neurons[i],
                     syn_spec={'weight': w, 'delay': delay, 'receptor_type': port})

    # dc_generator and step_current_generator time identically (checked); dc_generator also
    # accepts start = 0 (then NEST starts the current one step late, at delay + dt).
    for i, start, stop, amp in currents:
        gen = nest.Create('dc_generator', params={'amplitude': float(amp),
                                                  'start': float(start), 'stop': float(stop)})
        nest.Connect(gen, neurons[int(i)],
                     syn_spec={'weight': 1.0, 'delay': delay, 'receptor_type': 0})

    mm = nest.Create('multimeter', params={'interval': dt, 'record_from': record})
    nest.Connect(mm, neurons)
    sr = nest.Create('spike_recorder')
    nest.Connect(neurons, sr)

    # The multimeter withholds the last min_delay of data (>= delay, or 1 ms without
    # connections): simulate past t_sim.
    nest.Simulate(t_sim + max(delay, 1.0) + 2 * dt)

    n_samples = int(round(t_sim / dt))
    times = (np.arange(n_samples) + 1) * dt
    ev = mm.events
    step = np.rint(np.asarray(ev['times']) / dt).astype(np.int64) - 1
    col = np.asarray(ev['senders']) - neurons[0].global_id
    keep = step < n_samples
    step, col = step[keep], col[keep]
    if not np.allclose((step + 1) * dt, np.asarray(ev['times'])[keep], rtol=0, atol=1e-9):
        raise RuntimeError('multimeter stamps are off the dt grid')
    counts = np.zeros((n_samples, n_neurons), dtype=np.int64)
    np.add.at(counts, (step, col), 1)
    if not np.all(counts == 1):
        raise RuntimeError('multimeter did not return exactly one sample per stamp and neuron')

    out = {'times': times}
    for name in record:
        arr = np.empty((n_samples, n_neurons))
        arr[step, col] = np.asarray(ev[name], dtype=float)[keep]
        out[name] = arr

    sev = sr.events
    s_col = np.asarray(sev['senders']) - neurons[0].global_id
    s_t = np.asarray(sev['times'], dtype=float)
    out['spikes'] = [np.sort(s_t[(s_col == j) & (s_t <= t_sim + 1e-9)]) for j in range(n_neurons)]
    return out
