r"""The event-driven delivery of a step's spikes into the ring buffer of arrivals.

``W`` is a CSR matrix (rows: sending cells; columns: positions in the flat ring buffer,
``delay · width + target``), ``counts`` the spike counts of the senders in this step (mostly
0, sometimes 1, rarely more for Poisson sources); the step adds, for every position ``p``::

    Σ_i counts[i] · W[i, p]

(rows with a spike only) to the ring rotated by the step (:func:`deliver_into_ring`).

On the CPU this is a native XLA FFI handler compiled with numba (``numba.cfunc``): XLA calls
it with the buffers' addresses, with no Python in between (brainevent's CPU kernels go
through a Python callback; what the change saved is in ``docs/performance.md``), and it
updates the ring in place (:mod:`._event_handler`, compiled and registered by :mod:`.native`).

Off the CPU :func:`gathered_product` scatters the events into the ring in plain XLA
operations; by choice (:func:`use_on_accelerators`), and on a CPU whose jaxlib lacks that
header, brainevent's product ``counts @ W`` (one binary product per multiplicity level) is
computed and added to the rotated ring. The gathered product is the default off the CPU: it
needs no nvcc compilation at the first run (brainevent's kernels added ~25 s) and XLA can
keep it in a CUDA graph; on an H100 the two ran a 100-neuron network equally fast and
brainevent's was ~15% faster at 1e5 neurons (docs/performance.md, GPU).
"""

import functools
from typing import Optional

import brainevent
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["deliver_into_ring", "gathered_product", "join_ring", "native_available",
           "use_on_accelerators", "worker_available"]


@functools.lru_cache(maxsize=None)
def _handler() -> Optional[str]:
    """The CPU handler's XLA target name (compiled on first use), or None without the FFI
    C API header."""
    from . import _event_handler, native
    return native.register("pynn_brainpy_event_ring", _event_handler._ring_handler)


@functools.lru_cache(maxsize=None)
def _worker_handlers(dtype_name: str) -> Optional[tuple]:
    """The XLA targets of the ring worker's handlers (:mod:`._ring_worker`) for floats of
    ``dtype_name``: (deliver, join), or None without the FFI C API header."""
    from . import _ring_worker, native, warmup
    warmup.request("serve")              # the worker's thread, asked for with its handlers
    deliver = {"float32": _ring_worker.handler_f32, "float64": _ring_worker.handler_f64}
    names = (native.register(f"pynn_brainpy_event_ring_worker_{dtype_name}",
                             deliver[dtype_name]),
             native.register("pynn_brainpy_event_ring_join", _ring_worker.join_handler))
    return None if None in names else names


def worker_available(dtype) -> bool:
    """Whether the ring worker can take the delivery of ``dtype`` (float32 or float64) on
    this platform (the CPU, with its handlers; not switched off)."""
    from . import _ring_worker
    return (_ring_worker.ENABLED and not _on_accelerator() and native_available(dtype)
            and _worker_handlers(np.dtype(dtype).name) is not None)


def join_ring(ring):
    """``ring`` once the ring worker has added the last batch posted by
    :func:`deliver_into_ring` with ``worker``."""
    return jax.ffi.ffi_call(_worker_handlers(np.dtype(ring.dtype).name)[1],
                            jax.ShapeDtypeStruct(ring.shape, ring.dtype),
                            input_output_aliases={0: 0})(ring)


def native_available(dtype) -> bool:
    """Whether the CPU handlers can be used for ``dtype`` (float32 or float64): the installed
    jaxlib has the FFI C API header. Compiles nothing: a network delivering through the ring
    worker never needs the synchronous handler."""
    from . import native
    return np.dtype(dtype).name in ("float32", "float64") and native.api_version() is not None


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


_ACCELERATOR_PRODUCT = "gathered"


def _on_accelerator() -> bool:
    return jax.default_backend() != "cpu"


def use_on_accelerators(name: str) -> None:
    """Which delivery networks compiled from now on use off the CPU: ``"gathered"``
    (:func:`gathered_product`, the default) or ``"brainevent"`` (brainevent's kernels)."""
    global _ACCELERATOR_PRODUCT
    if name not in ("gathered", "brainevent"):
        raise ValueError(f"accelerator product must be 'gathered' or 'brainevent', got {name!r}")
    _ACCELERATOR_PRODUCT = name


def gathered_product(counts, weights, indices, indptr: np.ndarray, n_cols: int,
                     batch: Optional[int] = None, out=None, shift=0):
    r"""``counts @ W`` in plain XLA operations, event by event, for accelerators.

    The synapses of the senders with ``counts[i] > 0``, in row order, are numbered
    ``e = 0 … E−1`` by the running sum ``S_i = Σ_{r≤i} [counts[r] > 0] · len_r``; synapse
    ``e`` belongs to the row ``i`` with ``S_{i−1} ≤ e < S_i`` (a binary search, unrolled: no
    loop on the device) and is entry ``indptr[i] + e − S_{i−1}`` of the CSR arrays. Fixed-size batches of ``batch`` events
    are gathered and scatter-added (``count · weight``, so a repeated spike needs no loop)
    until all ``E`` are done: work ∝ the synapses of the spiking senders, whatever the spread
    of the rows' lengths, with static shapes and no custom call (so XLA can keep the step in
    one CUDA graph). ``batch`` defaults to ``max(4096, nnz / 256)``: one batch when fewer than
    1 in 256 synapses carry a spike in a step.

    With ``out`` (``n_cols`` numbers) the product is added to it, column ``c`` at
    ``(c + shift) mod n_cols`` (the ring buffer of :func:`deliver_into_ring`, rotated by the
    step), instead of to zeros.
    """
    indptr = np.asarray(indptr, np.int32)
    nnz = int(indptr[-1])
    out = jnp.zeros(n_cols, counts.dtype) if out is None else out
    if nnz == 0:
        return out
    batch = int(batch or max(4096, nnz // 256))
    lengths = jnp.asarray(np.diff(indptr))
    starts = jnp.asarray(indptr[:-1])
    spiking = counts > 0
    ends = jnp.cumsum(jnp.where(spiking, lengths, 0))            # S_i
    total = ends[-1]
    offsets = jnp.arange(batch, dtype=jnp.int32)

    def one_batch(first, out):
        e = first + offsets
        row = jnp.minimum(jnp.searchsorted(ends, e, side="right", method="scan_unrolled"),
                          lengths.size - 1)
        entry = starts[row] + e - (ends[row] - lengths[row])
        valid = e < total
        entry = jnp.where(valid, entry, 0)
        value = jnp.where(valid, counts[row] * weights[entry], 0)
        column = (indices[entry] + shift) % n_cols
        column = jnp.where(valid, column, n_cols)                  # out of range: dropped
        return out.at[column].add(value, mode="drop")

    out = one_batch(jnp.asarray(0, jnp.int32), out)
    _, out = jax.lax.while_loop(lambda c: c[0] < total,
                                lambda c: (c[0] + batch, one_batch(c[0], c[1])),
                                (jnp.asarray(batch, jnp.int32), out))
    return out


def deliver_into_ring(counts, weights, positions, indptr: np.ndarray, step, ring,
                      n_slots: int, repeats: bool = True, worker: bool = False):
    """Add step ``step``'s spikes into a ring buffer and take out the next row.

    ``ring``, flat, holds ``n_slots`` rows of ``n = ring.size / n_slots`` numbers: row ``s``
    is what arrives at the end of the steps ``≡ s (mod n_slots)``. The CSR matrix ``W =
    (weights, positions, indptr)`` has the ring's positions as columns: an entry at ``p =
    D·n + t`` is target ``t`` over ``D`` ≥ 1 steps, so ``counts[i]·W[i, p]`` is added to row
    ``(step + D) mod n_slots``, column ``t``. Row ``(step + 1) mod n_slots`` is then complete:
    it is returned and cleared. Returns ``(ring, arriving)``.

    On the CPU one native handler does it all in place: XLA aliases the ring to its result
    and nothing else reads or writes it, so the ring is not copied (a ring reshaped on the way
    in was copied twice per step). Off the CPU the gathered product scatters the events
    straight into the ring; brainevent's product (one column per ring position) is added to
    the ring rotated by ``step`` rows. ``repeats=False`` promises counts of 0 or 1 (neurons
    spike at most once per step): brainevent then makes one binary product.

    ``worker`` (where :func:`worker_available`; every delay at least 2 steps; in each row the
    entries aimed at columns below the worker's split column first, see
    :func:`._ring_worker.reserve`): the events are added by the ring worker while the next
    step runs, and the ring is complete only after :func:`join_ring` (or the next call).
    """
    indptr = np.asarray(indptr, np.int32)
    n = ring.size // n_slots
    step = jnp.asarray(step, jnp.int32)
    shift = (step % n_slots) * n

    # off the CPU the handler is not even compiled (numba is a CPU tool)
    accelerator = _on_accelerator()
    if accelerator or not native_available(counts.dtype):
        if accelerator and _ACCELERATOR_PRODUCT == "gathered":
            # the synaptic events scattered straight into the ring
            ring = gathered_product(counts, weights, positions, indptr, ring.size, out=ring,
                                    shift=shift)
        else:
            arrived = _brainevent_product(counts, weights, positions, indptr, ring.size,
                                          repeats)
            ring = ring + jnp.roll(arrived, shift)
        first = (shift + n) % ring.size
        arriving = jax.lax.dynamic_slice(ring, (first,), (n,))
        return jax.lax.dynamic_update_slice(ring, jnp.zeros(n, ring.dtype), (first,)), arriving

    results = (jax.ShapeDtypeStruct(ring.shape, ring.dtype),
               jax.ShapeDtypeStruct((n,), ring.dtype))
    operands = (counts, weights, positions, jnp.asarray(indptr), step.reshape(1), ring)
    if worker:
        deliver = _worker_handlers(np.dtype(ring.dtype).name)[0]
        return jax.ffi.ffi_call(deliver, results, input_output_aliases={5: 0})(*operands)
    return jax.ffi.ffi_call(_handler(), results, input_output_aliases={5: 0})(*operands)
