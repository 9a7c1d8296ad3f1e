"""Gap junctions: a continuous, symmetric current between pairs of cells.

A junction of conductance ``g`` between cell ``i`` of group ``a`` and cell ``j`` of group
``b`` gives

    I_i = g·(V_j − V_i),        I_j = g·(V_i − V_j) = −I_i,

(pA for g in nS and V in mV), summed over all junctions of a cell. There is no delay.

Numerical scheme: explicit coupling, as NEST's ``gap_junction`` without waveform relaxation.
At the start of step ``m`` every coupled cell's ``V`` (its value at the end of step ``m − 1``)
is read, the summed gap current of each cell is computed from those values and held constant
over the step, added to the current the model integrates in that step (its state ``I_stim``).
Every model's ``update`` replaces ``I_stim`` by the next step's external current at its end,
so the addition never carries over into the next step.

This is first order in ``dt``. For two identical passive cells (leak ``g_L``, capacitance
``C``) the difference ``D = V_1 − V_2`` is multiplied per step by

    λ_num = e^{−h/τ} − (2g/g_L)·(1 − e^{−h/τ})      (τ = C/g_L, exact propagators)

instead of ``λ = e^{−h(g_L + 2g)/C}``; ``λ_num − λ = −h²·b(a + b)/2 + O(h³)`` with
``a = g_L/C`` and ``b = 2g/C``: a global error ≈ ``ΔV₀·b·dt/(4e)`` in each V. ``λ_num`` turns
negative (the difference alternates in sign) above ``dt·g/C ≈ 0.5`` and falls below −1
(unstable) above ``dt·g/C ≈ 1``; for a cell with summed junction conductance ``G``, keep
``dt·G/C`` well below 1.

Nothing here knows PyNN. The records say which cells are coupled; the conductances (and the
index arrays, which may be long) are arguments of the compiled step, so changing a
conductance between runs does not recompile.
"""

from dataclasses import dataclass
from typing import Dict, Sequence

import jax.numpy as jnp
import numpy as np

__all__ = ["GapJunctions", "check", "arguments", "add_gap_currents"]

#: the model recordable that gives a cell's membrane potential in mV
VOLTAGE = "V_m"


@dataclass
class GapJunctions:
    """Junctions between cells ``a_idx`` of group ``a`` and cells ``b_idx`` of group ``b``
    (connection ``k`` couples ``a_idx[k]`` and ``b_idx[k]`` both ways).

    ``weight`` is the conductance of each junction in nS. ``current_scale_a`` and
    ``current_scale_b`` turn the current in pA into the input unit of group ``a``'s and
    ``b``'s models (1 for models that take pA). ``a`` and ``b`` may be the same group.
    """
    a: int
    a_idx: np.ndarray
    b: int
    b_idx: np.ndarray
    weight: np.ndarray
    current_scale_a: float = 1.0
    current_scale_b: float = 1.0

    def __post_init__(self):
        self.a_idx = np.asarray(self.a_idx, np.int64).reshape(-1)
        self.b_idx = np.asarray(self.b_idx, np.int64).reshape(-1)
        if self.a_idx.shape != self.b_idx.shape:
            raise ValueError(f"gap junctions need as many a-cells as b-cells "
                             f"(got {self.a_idx.size} and {self.b_idx.size}).")
        self.set_weight(self.weight)

    def set_weight(self, weight):
        """New conductances (nS), one per junction or one for all; must be finite and >= 0."""
        w = np.broadcast_to(np.asarray(weight, np.float64), self.a_idx.shape).copy()
        bad = ~np.isfinite(w) | (w < 0)
        if np.any(bad):
            raise ValueError(f"gap junction weight must be finite and >= 0 (nS), got "
                             f"{w[bad][0]}.")
        self.weight = w


def check(records: Sequence[GapJunctions], groups: Sequence) -> None:
    """Refuse junctions to groups that are not neuron models (spike sources have no
    membrane potential) or to cells outside a group."""
    for r in records:
        for side, gi, idx in (("a", r.a, r.a_idx), ("b", r.b, r.b_idx)):
            if not 0 <= gi < len(groups):
                raise ValueError(f"gap junctions refer to group {gi}; there are "
                                 f"{len(groups)} groups.")
            model = getattr(groups[gi], "model", None)     # (I_stim exists after init_state)
            if model is None or not hasattr(model, "recordable"):
                raise ValueError(f"gap junctions need neuron models on both sides; group {gi} "
                                 f"({type(groups[gi]).__name__}, side {side}) has no membrane "
                                 "potential.")
            if idx.size and (idx.min() < 0 or idx.max() >= groups[gi].size):
                raise ValueError(f"gap junction cell index out of range for group {gi} "
                                 f"(size {groups[gi].size}).")


def arguments(records: Sequence[GapJunctions], dtype) -> list:
    """Per record ``(a_idx, b_idx, weight)`` as device arrays: arguments of the compiled step."""
    return [(jnp.asarray(r.a_idx, jnp.int32), jnp.asarray(r.b_idx, jnp.int32),
             jnp.asarray(r.weight, dtype)) for r in records]


def gap_currents(records: Sequence[GapJunctions], args, voltages: Dict[int, jnp.ndarray],
                 sizes: Dict[int, int], dtype) -> Dict[int, jnp.ndarray]:
    """Summed gap current per cell of every coupled group (model input units):
    ``I_a[i] += s_a·g·(V_b[j] − V_a[i])`` and ``I_b[j] += s_b·g·(V_a[i] − V_b[j])`` for
    every junction (i, j, g). ``voltages`` are the groups' V (mV), shape (size,)."""
    out = {}
    for r, (a_idx, b_idx, w) in zip(records, args):
        current = w * (voltages[r.b][b_idx] - voltages[r.a][a_idx])     # into the a-cells
        for gi, idx, part in ((r.a, a_idx, r.current_scale_a * current),
                              (r.b, b_idx, -r.current_scale_b * current)):
            total = out.get(gi, jnp.zeros(sizes[gi], dtype))
            out[gi] = total.at[idx].add(part)
    return out


def add_gap_currents(records: Sequence[GapJunctions], args, groups: Sequence, dtype) -> None:
    """Add every coupled cell's gap current for this step to its model's ``I_stim``.

    Call once per step before any model is updated: all voltages are read first (the values
    at the end of the previous step), so the result does not depend on the update order."""
    if not records:
        return
    coupled = sorted({r.a for r in records} | {r.b for r in records})
    voltages = {gi: jnp.asarray(groups[gi].model.recordable(VOLTAGE), dtype).reshape(-1)
                for gi in coupled}
    sizes = {gi: groups[gi].size for gi in coupled}
    for gi, current in gap_currents(records, args, voltages, sizes, dtype).items():
        stim = groups[gi].model.I_stim
        stim.value = stim.value + current.astype(stim.value.dtype).reshape(stim.value.shape)
