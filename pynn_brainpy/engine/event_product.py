r"""The event-driven sparse product of a step: ``out = counts @ W`` for spike counts.

``W`` is a CSR matrix (rows: sending cells, columns: targets), ``counts`` the spike counts of
the senders in this step (mostly 0, sometimes 1, rarely more for Poisson sources)::

    out[c] = Σ_i counts[i] · W[i, c]

summed over the rows with a spike only.

On the CPU this is a native XLA FFI handler compiled with numba (``numba.cfunc``): XLA calls
it directly with the buffers' addresses, with no Python in between (brainevent's CPU kernels
go through a Python callback; what the change saved is in ``docs/performance.md``).
Elsewhere (GPU) brainevent's kernels are used, one binary product per multiplicity level.

The handler (:mod:`._event_handler`) reads XLA's call frame as the C API lays it out
(``xla/ffi/api/c_api.h`` of the installed jaxlib, whose API version it reports in XLA's
metadata query); numba caches its machine code on disk. If that header is missing, the CPU
also uses brainevent.
"""

import functools
import os
import re
from typing import Optional, Tuple

import brainevent
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["event_product", "native_available"]


def _ffi_api_version() -> Optional[Tuple[int, int]]:
    """(major, minor) of the XLA FFI C API of the installed jaxlib, or None."""
    import jaxlib
    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api",
                          "c_api.h")
    try:
        with open(header) as f:
            text = f.read()
    except OSError:
        return None
    found = [re.search(rf"#define XLA_FFI_API_{part}\s+(\d+)", text) for part in
             ("MAJOR", "MINOR")]
    return None if None in found else (int(found[0].group(1)), int(found[1].group(1)))


@functools.lru_cache(maxsize=None)
def _handler() -> Optional[str]:
    """Compile (or load from numba's cache) and register the CPU handler; its target name,
    or None without the C API header."""
    version = _ffi_api_version()
    if version is None:
        return None
    from . import _event_handler
    handler = _event_handler.compile_handler(*version)
    name = "pynn_brainpy_event_product"
    jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(handler.address), platform="cpu")
    _KEEP_ALIVE.append(handler)                  # its code must outlive every call
    return name


_KEEP_ALIVE = []


def native_available(dtype) -> bool:
    """Whether the CPU handler can be used for ``dtype`` (float32 or float64)."""
    return np.dtype(dtype).name in ("float32", "float64") and _handler() is not None


def _brainevent_product(counts, weights, indices, indptr: np.ndarray, n_cols: int,
                        repeats: bool = True):
    """brainevent's binary CSR products, one per multiplicity level (a Poisson source rarely
    fires twice in one step; without ``repeats`` a count is 0 or 1 and one product does, with
    no loop, whose condition costs a device-to-host copy on GPUs); ``indptr`` must be concrete
    (brainevent plans from it)."""
    csr = brainevent.CSR((weights, indices, indptr), shape=(indptr.size - 1, n_cols))
    if not repeats:
        return brainevent.BinaryArray(counts > 0) @ csr

    def body(carry):
        level, total = carry
        return level + 1, total + brainevent.BinaryArray(counts >= level) @ csr

    first = brainevent.BinaryArray(counts >= 1) @ csr
    _, total = jax.lax.while_loop(lambda c: jnp.any(counts >= c[0]), body,
                                  (jnp.asarray(2, counts.dtype), first))
    return total


def event_product(counts, weights, indices, indptr: np.ndarray, n_cols: int,
                  repeats: bool = True):
    """``counts @ W`` for the CSR matrix ``W = (weights, indices, indptr)`` of shape
    ``(len(indptr) − 1, n_cols)``; ``counts`` and ``weights`` of the same float type,
    ``indices`` int32, ``indptr`` a NumPy int32 array. ``repeats=False`` promises counts of
    0 or 1 (neurons spike at most once per step)."""
    indptr = np.asarray(indptr, np.int32)

    def default(counts, weights, indices):
        return _brainevent_product(counts, weights, indices, indptr, n_cols, repeats)

    # Off the CPU the handler is not even compiled (numba is a CPU tool; a GPU host may lack
    # the header); on the CPU, platform_dependent still keeps brainevent for other devices.
    if jax.default_backend() != "cpu" or not native_available(counts.dtype):
        return default(counts, weights, indices)
    name = _handler()

    def cpu(counts, weights, indices):
        return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct((n_cols,), counts.dtype))(
            counts, weights, indices, jnp.asarray(indptr))

    return jax.lax.platform_dependent(counts, weights, indices, cpu=cpu, default=default)
