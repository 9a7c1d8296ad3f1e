#!/usr/bin/env python
"""How close glif_cond is to NEST 3.10: the largest |ΔV_m| over the scenarios of
tests/models/test_glif_cond_nest.py (the test holds 1e-6 mV and identical spike steps; this
prints the measured margin for docs/glif_cond.md).

    python tests/glif_parity.py
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from glif_jax import run_jax_glif  # noqa: E402
from glif_scenarios import edge_scenarios, main_scenario  # noqa: E402
from nest_glif import run_nest_glif  # noqa: E402


def main():
    scenarios = [main_scenario(v, dt, w) for v in range(1, 6) for dt in (0.1, 0.01)
                 for w in (1.0, 30.0)] + list(edge_scenarios().values())
    worst, same_spikes = 0.0, True
    for sc in scenarios:
        ours = run_jax_glif(**sc, record=["V_m"])
        ref = run_nest_glif(**sc, record=["V_m"])
        worst = max(worst, float(np.max(np.abs(ours["V_m"] - ref["V_m"]))))
        for i, train in enumerate(ref["spikes"]):
            steps = np.round(np.asarray(train) / sc["dt"]).astype(int) - 1
            same_spikes &= np.array_equal(ours["spike_steps"][i], steps)
    print(f"{len(scenarios)} scenarios: max |ΔV_m| = {worst:.3g} mV, "
          f"spike steps {'identical' if same_spikes else 'DIFFER'}")


if __name__ == "__main__":
    main()
