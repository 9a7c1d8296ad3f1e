"""An E/I network of GLIF_cond neurons driven by Poisson input, written for PyNN.

80% excitatory and 20% inhibitory GLIF5 neurons with two synaptic ports (receptor_0: excitatory,
tau_syn 2 ms, e_rev 0 mV; receptor_1: inhibitory, tau_syn 5 ms, e_rev -80 mV). Every neuron
receives a fixed number of excitatory and inhibitory recurrent inputs (FixedNumberPre) and
independent Poisson drive from a pool of SpikeSourcePoisson cells.

Writes ``output/glif_network.pkl`` (a Neo Block: all spike trains, the membrane potential and
conductances of a few neurons) and ``output/glif_network.png`` (raster, rate histogram and
voltage traces).

    python examples/glif_network.py [--n 1000] [--t-stop 1000] [--dt 0.1] [--simulator brainpy]
                                    [--float32] [--no-progress]

``--simulator nest`` runs the same script on pyNN.nest for comparison (pyNN.nest cannot build
NEST's glif_cond through PyNN, so that path exists only to show the script is portable
PyNN; it fails there by PyNN's limitation, not ours).
"""

import argparse
import importlib
import os
import time

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def build(sim, n, rng_seed):
    n_exc = int(round(0.8 * n))
    n_inh = n - n_exc
    celltype = sim.GLIF_cond.variant(5, tau_syn=[2.0, 5.0], e_rev=[0.0, -80.0])
    exc = sim.Population(n_exc, celltype, label="excitatory")
    inh = sim.Population(n_inh, celltype, label="inhibitory")
    rng = sim.NumpyRNG(seed=rng_seed)
    v_init = sim.RandomDistribution("uniform", (-78.0, -55.0), rng=rng)
    exc.initialize(v=v_init)
    inh.initialize(v=v_init)

    drive = sim.Population(1000, sim.SpikeSourcePoisson(rate=20.0), label="poisson drive")
    k_ext, k_exc, k_inh = 100, max(1, n_exc // 10), max(1, n_inh // 10)
    w_ext, w_exc, w_inh = 0.0007, 0.0004, 0.002          # µS
    delay = sim.RandomDistribution("uniform", (1.0, 3.0), rng=rng)
    projections = []
    for target in (exc, inh):
        projections += [
            sim.Projection(drive, target, sim.FixedNumberPreConnector(k_ext, rng=rng),
                           sim.StaticSynapse(weight=w_ext, delay=1.0),
                           receptor_type="receptor_0", label="drive"),
            sim.Projection(exc, target, sim.FixedNumberPreConnector(k_exc, rng=rng),
                           sim.StaticSynapse(weight=w_exc, delay=delay),
                           receptor_type="receptor_0", label="excitatory"),
            sim.Projection(inh, target, sim.FixedNumberPreConnector(k_inh, rng=rng),
                           sim.StaticSynapse(weight=w_inh, delay=delay),
                           receptor_type="receptor_1", label="inhibitory"),
        ]
    return exc, inh, projections


def plot(block, exc_label, path, t_stop):
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1, 2]})
    offset = 0
    all_times = []
    for segment_population in block:
        seg = segment_population.segments[0]
        color = "tab:red" if seg.spiketrains[0].annotations.get(
            "source_population") == exc_label else "tab:blue"
        for i, st in enumerate(seg.spiketrains):
            axes[0].plot(st.times.magnitude, np.full(len(st), offset + i), ".", ms=1,
                         color=color)
            all_times.append(st.times.magnitude)
        offset += len(seg.spiketrains)
    axes[0].set_ylabel("neuron")
    axes[0].set_title("GLIF_cond E/I network (red: excitatory, blue: inhibitory)")
    times = np.concatenate(all_times) if all_times else np.zeros(0)
    bins = np.arange(0.0, t_stop + 5.0, 5.0)
    axes[1].hist(times, bins=bins, color="k")
    axes[1].set_ylabel("spikes / 5 ms")
    v = block[0].segments[0].filter(name="v")[0]
    axes[2].plot(v.times.magnitude, v.magnitude[:, :3], lw=0.7)
    axes[2].set_ylabel("v (mV)")
    axes[2].set_xlabel("time (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of GLIF neurons")
    parser.add_argument("--t-stop", type=float, default=1000.0, help="ms")
    parser.add_argument("--dt", type=float, default=0.1, help="ms")
    parser.add_argument("--simulator", default="brainpy")
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="output")
    args = parser.parse_args()

    sim = importlib.import_module("pynn_brainpy" if args.simulator == "brainpy"
                                  else f"pyNN.{args.simulator}")
    extra = {}
    if args.simulator == "brainpy":
        extra = dict(precision="float32" if args.float32 else "float64", rng_seed=args.seed,
                     progress_bar=not args.no_progress)
    sim.setup(timestep=args.dt, **extra)
    t0 = time.perf_counter()
    exc, inh, _ = build(sim, args.n, args.seed)
    exc.record("spikes")
    inh.record("spikes")
    exc[:5].record(["v", "gsyn_exc", "gsyn_inh"])
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(args.t_stop)
    t_run = time.perf_counter() - t0

    os.makedirs(args.out, exist_ok=True)
    from neo.io import PickleIO
    data_path = os.path.join(args.out, "glif_network.pkl")
    blocks = [exc.get_data(), inh.get_data()]
    plot(blocks, exc.label, os.path.join(args.out, "glif_network.png"), args.t_stop)
    merged = blocks[0]                    # one Block: all spike trains, exc's signals
    merged.segments[0].spiketrains.extend(blocks[1].segments[0].spiketrains)
    PickleIO(data_path).write_block(merged)
    rates = {p.label: p.mean_spike_count() * 1000.0 / args.t_stop for p in (exc, inh)}
    sim.end()
    print(f"built in {t_build:.1f} s, simulated {args.t_stop:g} ms in {t_run:.1f} s "
          f"(incl. compilation); mean rates: "
          + ", ".join(f"{k} {v:.1f} Hz" for k, v in rates.items()))
    print(f"wrote {data_path} and {os.path.join(args.out, 'glif_network.png')}")


if __name__ == "__main__":
    main()
