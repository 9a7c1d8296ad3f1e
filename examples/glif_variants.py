"""GLIF1–5 side by side: one glif_cond population per variant, the same drive, Neo + PNG out.

Drives the brainstate model directly (no PyNN): each neuron gets a 300 pA step current from
100 ms plus excitatory and inhibitory conductance inputs. Writes ``output/glif_variants.pkl``
(a Neo Block: spike trains and V_m per variant) and ``output/glif_variants.png``.

    python examples/glif_variants.py [--dt 0.1] [--t-stop 600]
"""

import argparse
import os

import brainstate
import matplotlib
import neo
import numpy as np
import quantities as pq

from pynn_brainpy.engine.drive import run_model
from pynn_brainpy.models.glif_cond import GLIF_VARIANTS, glif_cond

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def simulate(flags, dt, t_stop, rng):
    n_steps = int(round(t_stop / dt))
    model = glif_cond(1, spike_dependent_threshold=flags[0], after_spike_currents=flags[1],
                      adapting_threshold=flags[2])
    model.init_state()
    current = np.where(np.arange(n_steps)[:, None] * dt >= 100.0, 300.0, 0.0)
    exc = rng.poisson(200.0 * dt / 1000.0, (n_steps, 1)) * 2.0   # 200 Hz of 2 nS
    inh = rng.poisson(100.0 * dt / 1000.0, (n_steps, 1)) * 4.0   # 100 Hz of 4 nS
    return run_model(model, n_steps, delta={"receptor_0": exc, "receptor_1": inh},
                     current=current, record=["V_m", "threshold"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dt", type=float, default=0.1)
    parser.add_argument("--t-stop", type=float, default=600.0)
    parser.add_argument("--out", default="output")
    args = parser.parse_args()
    brainstate.environ.set(precision=64, dt=args.dt)
    os.makedirs(args.out, exist_ok=True)

    block = neo.Block(name="glif_cond variants")
    fig, axes = plt.subplots(len(GLIF_VARIANTS), 1, sharex=True, figsize=(9, 10))
    for ax, (flags, variant) in zip(axes, GLIF_VARIANTS.items()):
        out = simulate(flags, args.dt, args.t_stop, np.random.default_rng(42))
        times = (np.flatnonzero(out["spikes"][:, 0]) + 1) * args.dt
        seg = neo.Segment(name=f"GLIF{variant}")
        seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_stop=args.t_stop * pq.ms,
                                              name=f"GLIF{variant}"))
        seg.analogsignals.append(neo.AnalogSignal(out["V_m"] * pq.mV, t_start=args.dt * pq.ms,
                                                  sampling_period=args.dt * pq.ms, name="V_m"))
        block.segments.append(seg)
        t = (np.arange(len(out["V_m"])) + 1) * args.dt
        ax.plot(t, out["V_m"][:, 0], lw=0.6, label="V_m")
        ax.plot(t, out["threshold"][:, 0], lw=0.6, ls="--", label="threshold")
        ax.set_ylabel(f"GLIF{variant}\n(mV)")
        print(f"GLIF{variant}: {len(times)} spikes")
    axes[0].legend(loc="upper left")
    axes[-1].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "glif_variants.png"), dpi=120)
    neo.io.PickleIO(os.path.join(args.out, "glif_variants.pkl")).write_block(block)
    print(f"wrote {args.out}/glif_variants.pkl and {args.out}/glif_variants.png")


if __name__ == "__main__":
    main()
