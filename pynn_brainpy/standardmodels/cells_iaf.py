"""PyNN's standard integrate-and-fire cell types, simulated by NEST's models as pyNN.nest does.

====================  =======================  ====================================
PyNN cell type        model (mirrors NEST's)   weights (PyNN unit -> model unit)
====================  =======================  ====================================
IF_curr_alpha         iaf_psc_alpha            nA -> pA (x1000)
IF_curr_exp           iaf_psc_exp              nA -> pA (x1000)
IF_curr_delta         iaf_psc_delta            mV -> mV (pyNN.nest: x1000 x 1e-3)
IF_cond_alpha         iaf_cond_alpha           uS -> nS (x1000)
IF_cond_exp           iaf_cond_exp             uS -> nS (x1000)
IF_cond_exp_gsfa_grr  iaf_cond_exp_sfa_rr      uS -> nS (x1000)
IF_facets_hardware1   iaf_cond_exp             uS -> nS (x1000); C_m = 200 pF,
                                               t_ref = 1 ms, E_ex = 0 mV fixed
====================  =======================  ====================================

Parameter translations are pyNN.nest's: ``cm`` nF -> ``C_m`` pF, ``i_offset`` nA -> ``I_e`` pA,
``tau_m`` -> ``g_L = 1000·cm/tau_m`` nS for the conductance types (there ``cm`` is translated as
"computed" too, so that ``Population.set(cm=...)`` keeps ``tau_m``, as PyNN's other backends
do), everything else by name. Receptor ``excitatory`` is port 0, ``inhibitory`` port 1. For the
current-based types PyNN's inhibitory weights are negative and act, with their sign, on the
inhibitory synapse (NEST routes them there by the sign). Recordables carry PyNN's names and
units: ``v`` (mV), ``isyn_exc``/``isyn_inh`` (nA), ``gsyn_exc``/``gsyn_inh`` (uS), ``g_r``/``g_s``
(nS, the relative-refractory and adaptation conductances of IF_cond_exp_gsfa_grr).
"""

import numpy as np
from pyNN.standardmodels import build_translations, cells

from ..models.iaf import (iaf_cond_alpha, iaf_cond_exp, iaf_cond_exp_sfa_rr, iaf_psc_alpha,
                          iaf_psc_delta, iaf_psc_delta_ps, iaf_psc_exp, iaf_psc_exp_ps)
from .base import ModelCellType

__all__ = ["IF_curr_alpha", "IF_curr_exp", "IF_curr_delta", "IF_cond_alpha", "IF_cond_exp",
           "IF_cond_exp_gsfa_grr", "IF_facets_hardware1"]


class _IAFCellType(ModelCellType):
    """Units: PyNN's table of the standard type (parameters and state variables) plus the
    recordables this backend adds."""

    weight_scale = 1000.0    # nA -> pA, uS -> nS
    current_scale = 1000.0   # nA -> pA

    @property
    def units(self):
        standard = {}
        for klass in reversed(type(self).__mro__):
            table = klass.__dict__.get("units")
            if isinstance(table, dict):
                standard.update(table)
        standard.update({name: unit for name, (_, _, unit) in self.recordable_map.items()})
        return standard


_CURR_TRANSLATIONS = (
    ("v_rest", "E_L"),
    ("v_reset", "V_reset"),
    ("cm", "C_m", 1000.0),
    ("tau_m", "tau_m"),
    ("tau_refrac", "t_ref"),
    ("v_thresh", "V_th"),
    ("i_offset", "I_e", 1000.0),
)

_COND_TRANSLATIONS = (
    ("v_rest", "E_L"),
    ("v_reset", "V_reset"),
    ("cm", "C_m", lambda **p: p["cm"] * 1000.0, lambda **p: p["C_m"] / 1000.0),
    ("tau_m", "g_L", lambda **p: 1000.0 * p["cm"] / p["tau_m"], lambda **p: p["C_m"] / p["g_L"]),
    ("tau_refrac", "t_ref"),
    ("tau_syn_E", "tau_syn_ex"),
    ("tau_syn_I", "tau_syn_in"),
    ("v_thresh", "V_th"),
    ("i_offset", "I_e", 1000.0),
    ("e_rev_E", "E_ex"),
    ("e_rev_I", "E_in"),
)

_CURR_RECORDABLES = {"v": ("V_m", 1.0, "mV"), "isyn_exc": ("I_syn_ex", 0.001, "nA"),
                     "isyn_inh": ("I_syn_in", 0.001, "nA")}
_CURR_INITIAL = {"v": ("V_m", 1.0), "isyn_exc": ("I_syn_ex", 1000.0),
                 "isyn_inh": ("I_syn_in", 1000.0)}
_COND_RECORDABLES = {"v": ("V_m", 1.0, "mV"), "gsyn_exc": ("g_ex", 0.001, "uS"),
                     "gsyn_inh": ("g_in", 0.001, "uS")}
_COND_INITIAL = {"v": ("V_m", 1.0), "gsyn_exc": ("g_ex", 1000.0), "gsyn_inh": ("g_in", 1000.0)}


class IF_curr_alpha(_IAFCellType, cells.IF_curr_alpha):
    __doc__ = cells.IF_curr_alpha.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_psc_alpha.iaf_psc_alpha` (NEST's
    ``iaf_psc_alpha``). Recordables: spikes, v (mV), isyn_exc, isyn_inh (nA).
    """
    model = iaf_psc_alpha
    translations = build_translations(*_CURR_TRANSLATIONS, ("tau_syn_E", "tau_syn_ex"),
                                      ("tau_syn_I", "tau_syn_in"))
    recordable_map = dict(_CURR_RECORDABLES)
    initial_value_map = dict(_CURR_INITIAL)


class IF_curr_exp(_IAFCellType, cells.IF_curr_exp):
    __doc__ = cells.IF_curr_exp.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_psc_exp.iaf_psc_exp` (NEST's
    ``iaf_psc_exp``); with ``spike_precision="off_grid"`` by
    :class:`pynn_brainpy.models.iaf_psc_exp_ps.iaf_psc_exp_ps` (NEST's ``iaf_psc_exp_ps``:
    input and output spikes at their exact times, weights routed by their sign).
    Recordables: spikes, v (mV), isyn_exc, isyn_inh (nA).
    """
    model = iaf_psc_exp
    precise_model = iaf_psc_exp_ps     # spike_precision="off_grid", as pyNN.nest
    translations = build_translations(*_CURR_TRANSLATIONS, ("tau_syn_E", "tau_syn_ex"),
                                      ("tau_syn_I", "tau_syn_in"))
    recordable_map = dict(_CURR_RECORDABLES)
    initial_value_map = dict(_CURR_INITIAL)


class IF_curr_delta(_IAFCellType, cells.IF_curr_delta):
    __doc__ = cells.IF_curr_delta.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_psc_delta.iaf_psc_delta` (NEST's
    ``iaf_psc_delta``, input during the refractory period discarded); with
    ``spike_precision="off_grid"`` by :class:`pynn_brainpy.models.iaf_psc_delta_ps.
    iaf_psc_delta_ps` (NEST's ``iaf_psc_delta_ps``). Weights are the jump of the membrane
    potential in mV (negative for inhibition). Recordables: spikes, v (mV).
    """
    model = iaf_psc_delta
    precise_model = iaf_psc_delta_ps   # spike_precision="off_grid", as pyNN.nest
    weight_scale = 1.0       # mV
    translations = build_translations(*_CURR_TRANSLATIONS)
    recordable_map = {"v": ("V_m", 1.0, "mV")}
    initial_value_map = {"v": ("V_m", 1.0)}


class IF_cond_alpha(_IAFCellType, cells.IF_cond_alpha):
    __doc__ = cells.IF_cond_alpha.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_cond_alpha.iaf_cond_alpha` (NEST's
    ``iaf_cond_alpha``). Recordables: spikes, v (mV), gsyn_exc, gsyn_inh (uS).
    """
    model = iaf_cond_alpha
    translations = build_translations(*_COND_TRANSLATIONS)
    recordable_map = dict(_COND_RECORDABLES)
    initial_value_map = dict(_COND_INITIAL)


class IF_cond_exp(_IAFCellType, cells.IF_cond_exp):
    __doc__ = cells.IF_cond_exp.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_cond_exp.iaf_cond_exp` (NEST's
    ``iaf_cond_exp``). Recordables: spikes, v (mV), gsyn_exc, gsyn_inh (uS).
    """
    model = iaf_cond_exp
    translations = build_translations(*_COND_TRANSLATIONS)
    recordable_map = dict(_COND_RECORDABLES)
    initial_value_map = dict(_COND_INITIAL)


class IF_cond_exp_gsfa_grr(_IAFCellType, cells.IF_cond_exp_gsfa_grr):
    __doc__ = cells.IF_cond_exp_gsfa_grr.__doc__ + """
    Simulated by :class:`pynn_brainpy.models.iaf_cond_exp_sfa_rr.iaf_cond_exp_sfa_rr`
    (NEST's ``iaf_cond_exp_sfa_rr``). Recordables: spikes, v (mV), gsyn_exc, gsyn_inh (uS),
    g_r (relative-refractory conductance, nS), g_s (adaptation conductance, nS).
    """
    model = iaf_cond_exp_sfa_rr
    translations = build_translations(
        *_COND_TRANSLATIONS,
        ("tau_sfa", "tau_sfa"), ("e_rev_sfa", "E_sfa"), ("q_sfa", "q_sfa"),
        ("tau_rr", "tau_rr"), ("e_rev_rr", "E_rr"), ("q_rr", "q_rr"))
    recordable_map = {**_COND_RECORDABLES, "g_r": ("g_rr", 1.0, "nS"),
                      "g_s": ("g_sfa", 1.0, "nS")}
    initial_value_map = {**_COND_INITIAL, "g_r": ("g_rr", 1.0), "g_s": ("g_sfa", 1.0)}


class IF_facets_hardware1(_IAFCellType, cells.IF_facets_hardware1):
    __doc__ = cells.IF_facets_hardware1.__doc__ + """
    Simulated, as by pyNN.nest, by :class:`pynn_brainpy.models.iaf_cond_exp.iaf_cond_exp`
    with ``C_m`` = 200 pF, ``t_ref`` = 1 ms and ``E_ex`` = 0 mV (``g_leak`` in nS is NEST's
    ``g_L``). Recordables: spikes, v (mV), gsyn_exc, gsyn_inh (uS).
    """
    model = iaf_cond_exp
    translations = build_translations(
        ("v_reset", "V_reset"), ("v_rest", "E_L"), ("v_thresh", "V_th"), ("e_rev_I", "E_in"),
        ("tau_syn_E", "tau_syn_ex"), ("tau_syn_I", "tau_syn_in"), ("g_leak", "g_L"))
    #: model parameters PyNN does not expose (pyNN.nest's ``extra_parameters``)
    extra_parameters = {"C_m": 200.0, "t_ref": 1.0, "E_ex": 0.0}
    recordable_map = dict(_COND_RECORDABLES)
    initial_value_map = dict(_COND_INITIAL)

    def model_parameters(self, native: dict, n_cells: int) -> dict:
        kwargs = super().model_parameters(native, n_cells)
        for name, value in self.extra_parameters.items():
            kwargs.setdefault(name, np.full(n_cells, value))
        return kwargs
