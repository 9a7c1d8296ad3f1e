"""PyNN's adaptive and Hodgkin-Huxley standard cell types, on the NEST-mirroring models.

=========================  ==============================================  ===================
PyNN standard type         model (:mod:`pynn_brainpy.models`)              NEST model mirrored
=========================  ==============================================  ===================
EIF_cond_alpha_isfa_ista   :class:`~..models.aeif_cond.aeif_cond_alpha`    ``aeif_cond_alpha``
EIF_cond_exp_isfa_ista     :class:`~..models.aeif_cond.aeif_cond_exp`      ``aeif_cond_exp``
Izhikevich                 :class:`~..models.izhikevich.izhikevich`        ``izhikevich``
HH_cond_exp                :class:`~..models.hh_cond_exp_traub.hh_cond_exp_traub`
                                                                           ``hh_cond_exp_traub``
GIF_cond_exp               :class:`~..models.gif_cond_exp.gif_cond_exp`    ``gif_cond_exp``
=========================  ==============================================  ===================

The translations are pyNN.nest's (so ``get()`` and NEST's parameters agree with pyNN.nest),
except that ``cm`` is a computed translation, so that ``set(cm=...)`` keeps ``tau_m`` (in
pyNN.nest it keeps ``g_L`` and silently changes ``tau_m``):
nF→pF, nA→pA and uS→nS are ×1000, ``g_L = 1000·cm/tau_m``; parameters PyNN does not have
take NEST's defaults (e.g. ``t_ref = 2 ms`` for HH_cond_exp, ``V_th = 30 mV`` for
Izhikevich). Weights are in uS (×1000 to the models' nS) for the conductance-based types and
in mV (a jump of ``v``, ×1) for Izhikevich, as in pyNN.nest. The receptor types are
``excitatory`` (model port 0) and ``inhibitory`` (port 1).
"""

import numpy as np
from pyNN import errors
from pyNN.parameters import ArrayParameter
from pyNN.standardmodels import build_translations, cells

from ..models.aeif_cond import aeif_cond_alpha, aeif_cond_exp
from ..models.gif_cond_exp import gif_cond_exp
from ..models.hh_cond_exp_traub import hh_cond_exp_traub
from ..models.izhikevich import izhikevich
from .base import ModelCellType

__all__ = ["EIF_cond_alpha_isfa_ista", "EIF_cond_exp_isfa_ista", "Izhikevich", "HH_cond_exp",
           "GIF_cond_exp"]


class _Units:
    """``units``: the standard class's parameter units plus the recordables' units."""

    @property
    def units(self):
        out = {}
        for klass in type(self).__mro__:
            d = klass.__dict__.get("units")
            if isinstance(d, dict):
                out = {**d, **out}
        out.update({name: unit for name, (_, _, unit) in self.recordable_map.items()})
        return out


# cm is "computed" rather than "scaled" (pyNN.nest scales it) so that ``set(cm=...)`` keeps
# tau_m: PyNN then re-translates all parameters and g_L follows cm.
_CM = ("cm", "C_m", lambda **p: p["cm"] * 1000.0, lambda **p: p["C_m"] / 1000.0)

_EIF_TRANSLATIONS = build_translations(
    _CM,
    ("tau_refrac", "t_ref"),
    ("v_spike", "V_peak"),
    ("v_reset", "V_reset"),
    ("v_rest", "E_L"),
    ("tau_m", "g_L", "cm/tau_m*1000.0", "C_m/g_L"),
    ("i_offset", "I_e", 1000.0),
    ("a", "a"),
    ("b", "b", 1000.0),
    ("delta_T", "Delta_T"),
    ("tau_w", "tau_w"),
    ("v_thresh", "V_th"),
    ("e_rev_E", "E_ex"),
    ("tau_syn_E", "tau_syn_ex"),
    ("e_rev_I", "E_in"),
    ("tau_syn_I", "tau_syn_in"),
)
_EIF_RECORDABLES = {
    "v": ("V_m", 1.0, "mV"),
    "w": ("w", 0.001, "nA"),
    "gsyn_exc": ("g_ex", 0.001, "uS"),
    "gsyn_inh": ("g_in", 0.001, "uS"),
}
_EIF_INITIAL = {"v": ("V_m", 1.0), "w": ("w", 1000.0), "gsyn_exc": ("g_ex", 1000.0),
                "gsyn_inh": ("g_in", 1000.0)}


class EIF_cond_alpha_isfa_ista(_Units, ModelCellType, cells.EIF_cond_alpha_isfa_ista):
    __doc__ = (cells.EIF_cond_alpha_isfa_ista.__doc__ +
               "\n    Simulated by a model that mirrors NEST's ``aeif_cond_alpha`` (GSL RKF45, "
               "spike check after every sub-step).\n")
    model = aeif_cond_alpha
    translations = _EIF_TRANSLATIONS
    recordable_map = _EIF_RECORDABLES
    initial_value_map = _EIF_INITIAL
    weight_scale = 1000.0
    current_scale = 1000.0


class EIF_cond_exp_isfa_ista(_Units, ModelCellType, cells.EIF_cond_exp_isfa_ista):
    __doc__ = (cells.EIF_cond_exp_isfa_ista.__doc__ +
               "\n    Simulated by a model that mirrors NEST's ``aeif_cond_exp`` (GSL RKF45, "
               "spike check after every sub-step).\n")
    model = aeif_cond_exp
    translations = _EIF_TRANSLATIONS
    recordable_map = _EIF_RECORDABLES
    initial_value_map = _EIF_INITIAL
    weight_scale = 1000.0
    current_scale = 1000.0


class Izhikevich(_Units, ModelCellType, cells.Izhikevich):
    __doc__ = (cells.Izhikevich.__doc__ +
               "\n    Simulated by a model that mirrors NEST's ``izhikevich`` (forward Euler, "
               "threshold V_th = 30 mV). Weights are voltage jumps in mV (negative for "
               "inhibition).\n")
    model = izhikevich
    translations = build_translations(
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
        ("d", "d"),
        ("i_offset", "I_e", 1000.0),
    )
    recordable_map = {"v": ("V_m", 1.0, "mV"), "u": ("U_m", 1.0, "mV/ms")}
    initial_value_map = {"v": ("V_m", 1.0), "u": ("U_m", 1.0)}
    weight_scale = 1.0
    current_scale = 1000.0


class HH_cond_exp(_Units, ModelCellType, cells.HH_cond_exp):
    __doc__ = (cells.HH_cond_exp.__doc__ +
               "\n    Simulated by a model that mirrors NEST's ``hh_cond_exp_traub`` (GSL RKF45; "
               "a spike when V passes its maximum above v_offset + 30 mV; 2 ms refractory "
               "period for spike detection).\n")
    model = hh_cond_exp_traub
    translations = build_translations(
        ("gbar_Na", "g_Na", 1000.0),
        ("gbar_K", "g_K", 1000.0),
        ("g_leak", "g_L", 1000.0),
        ("cm", "C_m", 1000.0),
        ("v_offset", "V_T"),
        ("e_rev_Na", "E_Na"),
        ("e_rev_K", "E_K"),
        ("e_rev_leak", "E_L"),
        ("e_rev_E", "E_ex"),
        ("e_rev_I", "E_in"),
        ("tau_syn_E", "tau_syn_ex"),
        ("tau_syn_I", "tau_syn_in"),
        ("i_offset", "I_e", 1000.0),
    )
    recordable_map = {
        "v": ("V_m", 1.0, "mV"),
        "gsyn_exc": ("g_ex", 0.001, "uS"),
        "gsyn_inh": ("g_in", 0.001, "uS"),
        "m": ("Act_m", 1.0, ""),
        "n": ("Act_n", 1.0, ""),
        "h": ("Inact_h", 1.0, ""),
    }
    initial_value_map = {"v": ("V_m", 1.0), "gsyn_exc": ("g_ex", 1000.0),
                         "gsyn_inh": ("g_in", 1000.0), "m": ("Act_m", 1.0),
                         "n": ("Act_n", 1.0), "h": ("Inact_h", 1.0)}
    receptor_ports = {"excitatory": 0, "inhibitory": 1}
    weight_scale = 1000.0
    current_scale = 1000.0


_GIF_VECTORS = ("tau_stc", "q_stc", "tau_sfa", "q_sfa")


def _vector_rows(cell_type: str, name: str, value, n_cells: int) -> np.ndarray:
    """(n_cells, k) floats from an ArrayParameter, an array of them (one per cell) or numbers."""
    flat = np.ravel(np.asarray(value, object)) if not isinstance(value, ArrayParameter) \
        else [value]
    rows = [np.ravel(np.asarray(getattr(x, "value", x), float)) for x in flat]
    if any(isinstance(x, ArrayParameter) for x in flat):
        sizes = sorted({r.size for r in rows})
        if len(sizes) > 1:
            raise errors.InvalidParameterValueError(
                f"{cell_type}: {name}: all cells of a population must have the same number of "
                f"values (got lengths {sizes}).")
        arr = np.stack(rows) if rows else np.zeros((0, 0))
    else:
        arr = np.asarray(value, float).reshape(1, -1)
    try:
        return np.broadcast_to(arr, (n_cells, arr.shape[-1])).astype(float)
    except ValueError:
        raise errors.InvalidParameterValueError(
            f"{cell_type}: {name}: expected one vector or one vector per cell ({n_cells} "
            f"cells), got an array of shape {arr.shape}.") from None


class GIF_cond_exp(_Units, ModelCellType, cells.GIF_cond_exp):
    __doc__ = (cells.GIF_cond_exp.__doc__ +
               "\n    Simulated by a model that mirrors NEST's ``gif_cond_exp``. Spike emission "
               "is stochastic; the random stream is JAX's, seeded from "
               "``setup(rng_seed=...)`` and the population's index, so spike trains agree "
               "with pyNN.nest only statistically.\n")
    model = gif_cond_exp
    translations = build_translations(
        ("v_rest", "E_L"),
        _CM,
        ("tau_m", "g_L", "cm/tau_m*1000.0", "C_m/g_L"),
        ("tau_refrac", "t_ref"),
        ("tau_syn_E", "tau_syn_ex"),
        ("tau_syn_I", "tau_syn_in"),
        ("e_rev_E", "E_ex"),
        ("e_rev_I", "E_in"),
        ("v_reset", "V_reset"),
        ("i_offset", "I_e", 1000.0),
        ("delta_v", "Delta_V"),
        ("v_t_star", "V_T_star"),
        ("lambda0", "lambda_0"),
        ("tau_eta", "tau_stc"),
        ("tau_gamma", "tau_sfa"),
        ("a_eta", "q_stc", 1000.0),
        ("a_gamma", "q_sfa"),
    )
    recordable_map = {
        "v": ("V_m", 1.0, "mV"),
        "gsyn_exc": ("g_ex", 0.001, "uS"),
        "gsyn_inh": ("g_in", 0.001, "uS"),
        "i_eta": ("I_stc", 0.001, "nA"),
        "v_t": ("E_sfa", 1.0, "mV"),
    }
    initial_value_map = {"v": ("V_m", 1.0), "gsyn_exc": ("g_ex", 1000.0),
                         "gsyn_inh": ("g_in", 1000.0), "i_eta": ("I_stc", 1000.0),
                         "v_t": ("E_sfa", 1.0)}
    weight_scale = 1000.0
    current_scale = 1000.0

    def model_parameters(self, native: dict, n_cells: int) -> dict:
        """Scalars as (n_cells,) arrays, the adaptation vectors as (n_cells, k), plus the
        ``seed`` of the model's random stream (``rng_seed`` and the population index)."""
        name = self.__class__.__name__
        vectors = {k: _vector_rows(name, self._user_name(k), native[k], n_cells)
                   for k in _GIF_VECTORS if k in native}
        kwargs = super().model_parameters(
            {k: v for k, v in native.items() if k not in _GIF_VECTORS}, n_cells)
        kwargs.update(vectors)
        try:
            self.model.validate_parameters(kwargs)
        except ValueError as exc:
            raise errors.InvalidParameterValueError(f"{name}: {exc}") from None
        if not hasattr(self, "_seed_salt"):
            from .. import simulator
            self._seed_salt = len(simulator.state.populations)
        from .. import simulator
        kwargs["seed"] = (int(simulator.state.rng_seed) * 1_000_003 + 7919 * self._seed_salt
                          + 1) % (2 ** 31)
        return kwargs
