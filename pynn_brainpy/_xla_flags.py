"""XLA options pynn_brainpy asks for before JAX starts its backends.

XLA reads ``XLA_FLAGS`` once, when the first computation starts a backend, so this runs at
``import pynn_brainpy`` (importing JAX, brainstate or PyNN starts none).
"""

import os

#: On NVIDIA GPUs XLA runs a ``while`` loop (the step loop of a chunk, the adaptive RKF45
#: sub-steps, Poisson sampling) by copying its condition to the host every iteration, unless
#: loops may go into CUDA graphs, where the condition stays on the device. Measured on an
#: H100 (docs/performance.md, GPU): 100-neuron network 227 -> 124 µs per step, GLIF5 at 1e4
#: neurons 4.7 -> 3.0 ns per neuron-step, identical spikes. No effect on the CPU.
DEVICE_LOOPS = "--xla_gpu_enable_command_buffer=+WHILE"


def request_device_loops() -> None:
    """Add :data:`DEVICE_LOOPS` to ``XLA_FLAGS`` unless the user chose the command buffer
    types already. Too late (without effect) once JAX has started a backend."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_enable_command_buffer" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_LOOPS}".strip()
