"""glif_cond against NEST 3.10, live: identical spike steps and |ΔV_m| <= 1e-6 mV."""

import numpy as np
import pytest

from glif_jax import run_jax_glif
from glif_scenarios import EXPECTED_MAIN_SPIKES, edge_scenarios, main_scenario
from nest_glif import run_nest_glif

TOL_MV = 1e-6


def _compare(sc, record):
    ours = run_jax_glif(**sc, record=record)
    ref = run_nest_glif(**sc, record=record)
    np.testing.assert_allclose(ours["times"], ref["times"], atol=1e-9)
    for i, nest_train in enumerate(ref["spikes"]):
        nest_steps = np.round(np.asarray(nest_train) / sc["dt"]).astype(int) - 1
        np.testing.assert_array_equal(ours["spike_steps"][i], nest_steps,
                                      err_msg=f"spike steps of neuron {i}")
    for name in record:
        diff = np.max(np.abs(ours[name] - ref[name]))
        assert diff <= TOL_MV, f"max |Δ{name}| = {diff}"
    return ours, ref


@pytest.mark.parametrize("weight", [1.0, 30.0])
@pytest.mark.parametrize("dt", [0.1, 0.01])
@pytest.mark.parametrize("variant", [1, 2, 3, 4, 5])
def test_main_scenario_matches_nest(variant, dt, weight):
    sc = main_scenario(variant, dt, weight)
    ours, ref = _compare(sc, ["V_m", "g_1", "g_2", "threshold", "ASCurrents_sum", "I"])
    expected = EXPECTED_MAIN_SPIKES[(variant, dt, weight)]
    np.testing.assert_allclose((ours["spike_steps"][0] + 1) * dt, expected, atol=1e-9)


EDGE = edge_scenarios()


@pytest.mark.parametrize("name", sorted(EDGE))
def test_edge_case_matches_nest(name):
    sc = EDGE[name]
    n_ports = len(sc["params"]["tau_syn"]) if isinstance(sc["params"], dict) and \
        "tau_syn" in sc["params"] else 2
    record = ["V_m", "threshold", "threshold_spike", "threshold_voltage", "ASCurrents_sum"] + \
        [f"g_{k + 1}" for k in range(n_ports)]
    ours, ref = _compare(sc, record)
    assert sum(len(s) for s in ref["spikes"]) > 0
