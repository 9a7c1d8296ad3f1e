"""Scenario definitions for comparing ``pynn_brainpy``'s glif_cond with NEST 3.10.

Plain data only (no NEST import).  A scenario is a dict whose keys are the keyword
arguments of ``nest_glif.run_nest_glif`` (``params``, ``n_neurons``, ``dt``, ``t_sim``,
``spikes``, ``currents``, ``delay`` and optionally ``asc_state``), so
``run_nest_glif(**scenario, record=...)`` runs it in NEST.  Conventions (see
``shared/spec/glif_cond.md``):

* ``params`` uses NEST names (``g_m`` is the leak conductance); absolute voltages;
* ``spikes``: ``(neuron, port, time_ms, weight)``, port 1-based; the conductance
  derivative jumps at ``time + delay``;
* ``currents``: ``(neuron, start_ms, stop_ms, amplitude_pA)``; the ODE sees the
  amplitude on ``(start + delay, stop + delay]``.

``main_scenario`` is the spec §10 scenario, with NEST's spike times in
``EXPECTED_MAIN_SPIKES`` (spec Appendix).  ``edge_scenarios`` covers spec §11.
"""

__all__ = ['GLIF_FLAGS', 'main_scenario', 'EXPECTED_MAIN_SPIKES', 'edge_scenarios']

#: variant -> (spike_dependent_threshold, after_spike_currents, adapting_threshold)
GLIF_FLAGS = {
    1: (False, False, False),
    2: (True, False, False),
    3: (False, True, False),
    4: (True, True, False),
    5: (True, True, True),
}


def _params(variant, **overrides):
    """Flags of GLIF ``variant``, V_m = -78.85, and ``overrides``; all else NEST defaults."""
    r, asc, a = GLIF_FLAGS[variant]
    p = {'spike_dependent_threshold': r, 'after_spike_currents': asc, 'adapting_threshold': a,
         'V_m': -78.85}
    p.update(overrides)
    return p


def _scenario(params, dt, t_sim, spikes=(), currents=(), n_neurons=1, asc_state=None):
    sc = {'params': params, 'n_neurons': n_neurons, 'dt': dt, 't_sim': t_sim,
          'spikes': list(spikes), 'currents': list(currents), 'delay': 1.0}
    if asc_state is not None:
        sc['asc_state'] = asc_state
    return sc


def _train(port, times, weight, neuron=0):
    """Spike events on one port; times rounded to 1e-6 ms to stay on the grid."""
    return [(neuron, port, round(t, 6), weight) for t in times]


def main_scenario(variant, dt, weight):
    """Spec §10: spikes on port 1 at 10/100/400/700 ms and port 2 at 15/99/300/800 ms
    (weight ``weight``), 300 pA on [600, 900), T = 1000 ms."""
    spikes = (_train(1, [10.0, 100.0, 400.0, 700.0], weight)
              + _train(2, [15.0, 99.0, 300.0, 800.0], weight))
    return _scenario(_params(variant), dt, 1000.0, spikes, [(0, 600.0, 900.0, 300.0)])


#: NEST 3.10 output spike times (ms) of ``main_scenario``, keyed (variant, dt, weight).
EXPECTED_MAIN_SPIKES = {
    (1, 0.1, 1.0): [
        613.0, 628.8, 644.6, 660.4, 676.2, 692.0, 707.6, 723.4, 739.2, 755.0, 770.8, 786.6, 804.2,
        820.1, 835.9, 851.7, 867.5, 883.3, 899.1
    ],
    (2, 0.1, 1.0): [
        613.0, 620.6, 628.7, 637.2, 646.2, 655.6, 665.4, 675.6, 686.2, 697.2, 708.0, 719.6, 731.4,
        743.5, 755.8, 768.2, 780.8, 793.5, 811.5, 824.0, 836.6, 849.3, 862.1, 875.0, 888.0, 901.0
    ],
    (3, 0.1, 1.0): [
        613.0, 643.0, 676.1, 711.7, 751.1, 794.5, 842.6, 895.8
    ],
    (4, 0.1, 1.0): [
        613.0, 642.8, 677.1, 715.5, 759.6, 818.2, 873.4
    ],
    (5, 0.1, 1.0): [
        614.2, 649.8, 693.1, 748.7, 831.2
    ],
    (1, 0.1, 30.0): [
        613.0, 628.8, 644.6, 660.4, 676.2, 692.0, 701.4, 717.2, 733.0, 748.8, 764.6, 780.4, 796.2,
        820.8, 836.6, 852.4, 868.2, 884.0, 899.8
    ],
    (2, 0.1, 30.0): [
        613.0, 620.6, 628.7, 637.2, 646.2, 655.6, 665.4, 675.6, 686.2, 697.2, 701.3, 713.4, 725.5,
        737.8, 750.3, 762.9, 775.6, 788.4, 825.2, 836.7, 848.5, 860.5, 872.7, 885.1, 897.6
    ],
    (3, 0.1, 30.0): [
        613.0, 643.0, 676.1, 701.3, 741.6, 785.4, 837.5, 890.6
    ],
    (4, 0.1, 30.0): [
        613.0, 642.8, 677.1, 701.3, 747.5, 799.3, 858.2
    ],
    (5, 0.1, 30.0): [
        614.2, 649.8, 693.1, 701.6, 834.9
    ],
    (1, 0.01, 1.0): [
        612.99, 628.73, 644.47, 660.21, 675.95, 691.69, 707.14, 722.88, 738.62, 754.36, 770.1,
        785.84, 801.85, 817.76, 833.5, 849.24, 864.98, 880.72, 896.46
    ],
    (2, 0.01, 1.0): [
        612.99, 620.53, 628.51, 636.94, 645.81, 655.12, 664.85, 674.98, 685.49, 696.35, 707.03,
        718.53, 730.29, 742.27, 754.45, 766.79, 779.28, 791.89, 810.75, 823.14, 835.64, 848.26,
        860.98, 873.78, 886.65, 899.57
    ],
    (3, 0.01, 1.0): [
        612.99, 642.87, 675.83, 711.2, 750.45, 793.66, 841.6, 894.71
    ],
    (4, 0.01, 1.0): [
        612.99, 642.64, 676.8, 715.02, 758.95, 817.86, 872.83
    ],
    (5, 0.01, 1.0): [
        614.18, 649.58, 692.73, 748.16, 830.85
    ],
    (1, 0.01, 30.0): [
        612.99, 628.73, 644.47, 660.21, 675.95, 691.69, 701.35, 717.09, 732.83, 748.57, 764.31,
        780.05, 795.79, 820.75, 836.49, 852.23, 867.97, 883.71, 899.45
    ],
    (2, 0.01, 30.0): [
        612.99, 620.53, 628.51, 636.94, 645.81, 655.12, 664.85, 674.98, 685.49, 696.35, 701.22,
        713.04, 725.06, 737.27, 749.65, 762.16, 774.79, 787.52, 800.33, 825.67, 837.75, 850.01,
        862.43, 874.98, 887.64, 900.39
    ],
    (3, 0.01, 30.0): [
        612.99, 642.87, 675.83, 701.2, 741.33, 785.0, 837.15, 890.07
    ],
    (4, 0.01, 30.0): [
        612.99, 642.64, 676.8, 701.21, 747.16, 798.84, 857.62
    ],
    (5, 0.01, 30.0): [
        614.18, 649.58, 692.73, 701.57, 834.83
    ],
}


def edge_scenarios():
    """Spec §11 edge cases, name -> scenario dict (fresh copies on every call)."""
    three_ports = dict(tau_syn=[0.5, 2.0, 5.0], E_rev=[0.0, -85.0, -70.0])
    three_port_inputs = (_train(1, [30.0, 90.0, 150.0, 210.0], 20.0)
                         + _train(2, [60.0, 120.0, 180.0], 8.0)
                         + _train(3, [40.0, 100.0, 160.0, 220.0, 250.0], 15.0))
    hetero = [
        _params(5, g_m=9.43, C_m=58.72, t_ref=3.75, V_th=-51.68, tau_syn=[0.2, 2.0]),
        _params(5, g_m=12.0, C_m=70.0, t_ref=2.0, V_th=-55.0, tau_syn=[0.5, 3.0]),
        _params(5, g_m=7.0, C_m=45.0, t_ref=5.0, V_th=-50.0, tau_syn=[1.0, 1.5]),
        _params(5, g_m=10.0, C_m=100.0, t_ref=1.11, V_th=-53.0, tau_syn=[0.3, 5.0]),
    ]
    hetero_inputs = [ev for i in range(4)
                     for ev in (_train(1, [20.0 + 7 * i, 120.0 + 7 * i], 10.0 + 5 * i, i)
                                + _train(2, [60.0 + 5 * i, 160.0], 5.0 * (i + 1), i))]

    def burst(t0):
        return [t0 + 0.5 * k for k in range(10)]

    return {
        # t_ref rounding: NEST holds 247 steps (a float ceil gives 248).
        't_ref_2.47_dt0.01': _scenario(
            _params(1, t_ref=2.47), 0.01, 150.0, currents=[(0, 10.0, 140.0, 1000.0)]),
        # t_ref < dt: one refractory step.
        't_ref_below_dt': _scenario(
            _params(1, t_ref=0.05), 0.1, 100.0, currents=[(0, 5.0, 95.0, 1000.0)]),
        # Dense excitation during refractoriness.
        'refractory_input_glif2': _scenario(
            _params(2), 0.1, 300.0, _train(1, [1.3 * k for k in range(1, 224)], 15.0),
            [(0, 10.0, 290.0, 400.0)]),
        # A w=100 spike arriving while V is held: g_1 rises, V stays at the reset.
        'single_spike_in_refractory': _scenario(
            _params(1), 0.1, 100.0, _train(1, [23.5], 100.0), [(0, 10.0, 90.0, 300.0)]),
        # Large conductance jumps on the tau=0.2 ms port: forces step rejections.
        'large_jumps_dt0.1': _scenario(
            _params(2), 0.1, 250.0,
            _train(1, [10.0, 80.0], 2000.0) + _train(1, [50.0, 167.0], 1000.0)
            + _train(2, [120.0, 200.0], 50.0), [(0, 140.0, 240.0, 200.0)]),
        'three_ports_glif4': _scenario(
            _params(4, **three_ports), 0.1, 300.0, three_port_inputs, [(0, 20.0, 280.0, 270.0)]),
        'three_ports_glif5': _scenario(
            _params(5, **three_ports), 0.1, 300.0, three_port_inputs, [(0, 20.0, 280.0, 330.0)]),
        # Strong drive: large theta_v; inhibitory bursts on port 2.
        'glif5_strong_drive': _scenario(
            _params(5), 0.1, 300.0,
            _train(2, burst(50.0) + burst(150.0) + burst(250.0), 20.0),
            [(0, 10.0, 290.0, 1000.0)]),
        # ASCurrents set explicitly (first step still uses sum 0); asc_init alone is ignored.
        'asc_state_set': _scenario(
            _params(3, asc_init=[10.0, 20.0]), 0.1, 200.0, currents=[(0, 50.0, 190.0, 300.0)],
            asc_state=[10.0, 20.0]),
        # Three ASC components: NEST uses len(ASCurrents), so set it with 3 values.
        'three_asc_components': _scenario(
            _params(4, asc_init=[0.0, 0.0, 0.0], asc_decay=[0.003, 0.1, 0.03],
                    asc_amps=[-9.18, -198.94, -50.0], asc_r=[1.0, 1.0, 0.5]),
            0.1, 300.0, currents=[(0, 10.0, 290.0, 400.0)], asc_state=[5.0, -10.0, 2.0]),
        # Reset above threshold: once it fires, it spikes every RC + 1 = 39 steps (3.9 ms).
        'reset_above_threshold_glif2': _scenario(
            _params(2, voltage_reset_add=40.0), 0.1, 100.0, currents=[(0, 5.0, 100.0, 300.0)]),
        'v_reset_just_below_threshold': _scenario(
            _params(1, V_reset=-51.69), 0.1, 100.0, currents=[(0, 10.0, 90.0, 300.0)]),
        # Same-stamp spikes (same and different weights) must add before the kappa scaling.
        'same_step_inputs': _scenario(
            _params(2), 0.1, 150.0,
            _train(1, [20.0, 20.0, 20.0, 70.0, 70.0], 10.0) + _train(1, [20.0, 70.0], 5.0)
            + _train(2, [45.0, 45.0, 100.0, 100.0], 6.0), [(0, 10.0, 140.0, 300.0)]),
        'negative_weights': _scenario(
            _params(1), 0.1, 200.0,
            _train(1, [30.0, 80.0, 130.0], -20.0) + _train(2, [50.0, 100.0, 150.0], -10.0),
            [(0, 10.0, 190.0, 300.0)]),
        'heterogeneous_population': _scenario(
            hetero, 0.1, 250.0, hetero_inputs,
            [(i, 10.0 + 5 * i, 240.0, 300.0 + 100 * i) for i in range(4)], n_neurons=4),
        'dt0.01_glif5_two_ports_strong': _scenario(
            _params(5), 0.01, 200.0,
            _train(1, [20.0, 60.0, 110.0, 150.0], 1000.0) + _train(2, [40.0, 130.0], 1000.0),
            [(0, 80.0, 190.0, 400.0)]),
    }
