#!/bin/bash
# Run benchmarks/gpu.py on a machine that has JAX with CUDA but cannot reach PyPI.
#
#   bash benchmarks/gpu_wheels.sh fetch     # where PyPI is reachable: wheels into .whl/
#   bash benchmarks/gpu_wheels.sh install   # on the GPU machine: into /tmp/site, then
#   export PYTHONPATH=/tmp/site:$PWD; python3 benchmarks/gpu.py --json out.json
#
# The GPU machine's own jax/jaxlib/CUDA plugin, numpy, numba, scipy, matplotlib, optax and
# msgpack are used; only pure-Python packages travel (for Python 3.12: check the target's
# version). brainpy + brainpy_state + braintools are for the side-by-side comparison.
set -euo pipefail
case "${1:-}" in
fetch)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        -d .whl brainstate==0.5.4 brainevent==0.2.1 brainunit==0.5.2 saiunit==0.5.2 \
        array_api_compat PyNN==0.13.0 neo==0.14.6 quantities==0.16.4 lazyarray==0.7.0 \
        brainpy==2.8.2 brainpy_state==0.1.0 braintools==0.3.0
    ls .whl ;;
install)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl ;;
*)
    echo "usage: $0 fetch|install" >&2; exit 2 ;;
esac
