"""GLIF_cond and the native glif_cond cell type: translations, defaults, receptors, recordables,
validation."""

import os

import numpy as np
import pytest
from pyNN import errors
from pyNN.parameters import ArrayParameter, ParameterSpace

from pynn_brainpy.standardmodels.cells import (
    FLAGS, MODEL_PARAMETERS, GLIF_cond, UnknownNativeModelError, native_cell_type,
    validate_native)

NATIVE_DEFAULTS = dict(
    g=9.43, E_L=-78.85, V_th=-51.68, V_reset=-78.85, C_m=58.72, t_ref=3.75, th_spike_add=0.37,
    th_spike_decay=0.009, voltage_reset_fraction=0.2, voltage_reset_add=18.51,
    th_voltage_index=0.005, th_voltage_decay=0.09, asc_init=[0.0, 0.0],
    asc_decay=[0.003, 0.1], asc_amps=[-9.18, -198.94], asc_r=[1.0, 1.0], tau_syn=[0.2, 2.0],
    E_rev=[0.0, -85.0], I_e=0.0, spike_dependent_threshold=False, after_spike_currents=False,
    adapting_threshold=False)


def evaluated(ps, n=1):
    ps.shape = (n,)
    return ps.evaluate(simplify=True).as_dict()


def plain(value):
    return value.value if isinstance(value, ArrayParameter) else value


# ---------------------------------------------------------------- translations
def test_defaults_translate_exactly_to_the_model_defaults():
    native = evaluated(GLIF_cond().native_parameters)
    assert set(native) == set(MODEL_PARAMETERS)
    for name, want in NATIVE_DEFAULTS.items():
        assert np.array_equal(plain(native[name]), want), name


def test_forward_translation_units():
    cell = GLIF_cond(v_rest=-70.0, cm=0.25, tau_m=10.0, v_thresh=-50.0, v_reset=-65.0,
                     tau_refrac=2.0, i_offset=0.5, tau_syn=[1.0, 5.0, 10.0],
                     e_rev=[0.0, -80.0, -90.0], asc_init=[0.1, -0.2], asc_amps=[-0.01, -0.3],
                     asc_decay=[0.01, 0.2], asc_r=[0.5, 1.0], th_spike_decay=0.02)
    n = evaluated(cell.native_parameters)
    assert n["E_L"] == -70.0 and n["V_th"] == -50.0 and n["V_reset"] == -65.0
    assert n["C_m"] == pytest.approx(250.0, rel=1e-15)
    assert n["g"] == pytest.approx(25.0, rel=1e-15)          # nS = 1000 * 0.25 nF / 10 ms
    assert n["t_ref"] == 2.0 and n["I_e"] == pytest.approx(500.0)
    np.testing.assert_allclose(n["asc_init"].value, [100.0, -200.0])
    np.testing.assert_allclose(n["asc_amps"].value, [-10.0, -300.0])
    np.testing.assert_array_equal(n["asc_decay"].value, [0.01, 0.2])
    np.testing.assert_array_equal(n["asc_r"].value, [0.5, 1.0])
    np.testing.assert_array_equal(n["tau_syn"].value, [1.0, 5.0, 10.0])
    np.testing.assert_array_equal(n["E_rev"].value, [0.0, -80.0, -90.0])
    assert n["th_spike_decay"] == 0.02


def test_reverse_translation_recovers_pynn_values():
    cell = GLIF_cond()
    values = {k: ArrayParameter(v) if isinstance(v, list) else v
              for k, v in NATIVE_DEFAULTS.items()}
    native = ParameterSpace(dict(values, g=20.0, C_m=200.0, I_e=150.0,
                                 asc_amps=ArrayParameter([-5.0, -50.0])), shape=(1,))
    back = evaluated(cell.reverse_translate(native))
    assert back["tau_m"] == pytest.approx(10.0)               # ms = C_m / g
    assert back["cm"] == pytest.approx(0.2)
    assert back["i_offset"] == pytest.approx(0.15)
    np.testing.assert_allclose(back["asc_amps"].value, [-0.005, -0.05])
    # The defaults survive a round trip.
    there_and_back = evaluated(cell.reverse_translate(cell.native_parameters))
    for name, value in GLIF_cond.default_parameters.items():
        assert np.allclose(plain(there_and_back[name]), plain(value), rtol=1e-15), name


def test_setting_cm_keeps_tau_m():
    # cm is a "computed" translation, so PyNN's Population.set(cm=...) re-derives g.
    cell = GLIF_cond(tau_m=10.0)
    assert cell.computed_parameters_include(["cm"])
    ps = evaluated(cell.reverse_translate(cell.native_parameters))
    ps = ParameterSpace(dict(ps, cm=0.5), cell.get_schema(), (1,))
    n = evaluated(cell.translate(ps))
    assert n["g"] == pytest.approx(50.0) and n["C_m"] == pytest.approx(500.0)


def test_model_kwargs_shapes_and_heterogeneous_values():
    cell = GLIF_cond(v_thresh=[-50.0, -52.0, -54.0], tau_syn=[[1.0, 2.0]] * 3)
    kw = cell.model_kwargs(3)
    assert set(kw) == set(MODEL_PARAMETERS)
    np.testing.assert_array_equal(kw["V_th"], [-50.0, -52.0, -54.0])
    assert kw["g"].shape == (3,) and kw["tau_syn"].shape == (3, 2)
    assert kw["asc_amps"].shape == (3, 2)
    assert kw["spike_dependent_threshold"] is False


def test_model_accepts_model_kwargs():
    import brainstate
    cell = GLIF_cond.variant(5, tau_syn=[1.0, 2.0, 3.0], e_rev=[0.0, -80.0, -90.0])
    with brainstate.environ.context(dt=0.1):
        model = cell.model(4, **cell.model_kwargs(4))
        model.init_state()
    assert model.variant == 5 and model.n_receptors == 3


# ---------------------------------------------------------------- NEST defaults
@pytest.fixture(scope="module")
def nest_defaults():
    os.environ["PYNEST_QUIET"] = "1"
    nest = pytest.importorskip("nest")
    return nest.GetDefaults("glif_cond")


def test_native_defaults_equal_nest(nest_defaults):
    cell = native_cell_type("glif_cond")()
    for name, value in cell.default_parameters.items():
        if name == "I_e":            # ours only
            continue
        assert np.array_equal(plain(value), nest_defaults[name]), name
    assert cell.default_initial_values["V_m"] == nest_defaults["V_m"]


def test_standard_defaults_translate_to_nest(nest_defaults):
    native = evaluated(GLIF_cond().native_parameters)
    for name, value in native.items():
        nest_name = "g_m" if name == "g" else name
        if nest_name == "I_e":
            assert value == 0.0
            continue
        assert np.array_equal(plain(value), nest_defaults[nest_name]), name
    assert GLIF_cond.default_initial_values["v"] == nest_defaults["V_m"]


# ---------------------------------------------------------------- receptors
@pytest.mark.parametrize("n, aliases", [(1, ["excitatory"]), (2, ["excitatory", "inhibitory"]),
                                        (3, ["excitatory", "inhibitory"])])
def test_receptor_types_follow_tau_syn(n, aliases):
    cell = GLIF_cond(tau_syn=list(np.arange(1.0, n + 1)), e_rev=[0.0] * n)
    assert cell.n_ports == n
    assert cell.receptor_types == [f"receptor_{k}" for k in range(n)] + aliases
    for k in range(n):
        assert cell.receptor_port(f"receptor_{k}") == k
    assert cell.receptor_port("excitatory") == 0
    if n >= 2:
        assert cell.receptor_port("inhibitory") == 1
    for bad in [f"receptor_{n}", "receptor_01", "inhibitory" if n == 1 else "AMPA"]:
        with pytest.raises(errors.ConnectionError):
            cell.receptor_port(bad)


def test_receptor_types_follow_parameter_updates():
    cell = GLIF_cond()
    cell.parameter_space.update(tau_syn=[1.0, 2.0, 3.0, 4.0], e_rev=[0.0] * 4)
    assert cell.receptor_types[:4] == ["receptor_0", "receptor_1", "receptor_2", "receptor_3"]


def test_weight_scales():
    assert GLIF_cond.weight_scale == 1000.0
    assert native_cell_type("glif_cond").weight_scale == 1.0


# ---------------------------------------------------------------- recordables
def test_recordable_mapping_standard():
    cell = GLIF_cond(tau_syn=[1.0, 2.0, 3.0], e_rev=[0.0, -80.0, -90.0])
    m = cell.recordable_map
    assert m["v"] == ("V_m", 1.0, "mV")
    assert m["gsyn_receptor_0"] == ("g_1", 0.001, "uS")
    assert m["gsyn_receptor_2"] == ("g_3", 0.001, "uS")
    assert m["gsyn_exc"] == ("g_1", 0.001, "uS") and m["gsyn_inh"] == ("g_2", 0.001, "uS")
    assert m["threshold"] == ("threshold", 1.0, "mV")
    assert m["threshold_spike"] == ("threshold_spike", 1.0, "mV")
    assert m["threshold_voltage"] == ("threshold_voltage", 1.0, "mV")
    assert m["asc_sum"] == ("ASCurrents_sum", 0.001, "nA")
    assert cell.recordable == ["spikes", "v", "gsyn_receptor_0", "gsyn_receptor_1",
                               "gsyn_receptor_2", "gsyn_exc", "gsyn_inh", "threshold",
                               "threshold_spike", "threshold_voltage", "asc_sum"]
    assert cell.can_record("gsyn_receptor_2") and not cell.can_record("gsyn_receptor_3")
    assert cell.units["gsyn_receptor_1"] == "uS" and cell.units["asc_sum"] == "nA"
    assert cell.units["v"] == "mV" and cell.units["cm"] == "nF"
    assert cell.variable_map["gsyn_inh"] == "g_2" and cell.scale_factors["v"] == 1.0
    assert GLIF_cond.initial_value_map == {"v": ("V_m", 1.0)}


def test_single_port_has_no_gsyn_inh():
    cell = GLIF_cond(tau_syn=[1.0], e_rev=[0.0])
    assert "gsyn_inh" not in cell.recordable and "gsyn_exc" in cell.recordable


def test_recordable_mapping_native():
    cell = native_cell_type("glif_cond")(tau_syn=[1.0, 2.0, 3.0], E_rev=[0.0, -80.0, -90.0])
    assert cell.recordable == ["spikes", "V_m", "g_1", "g_2", "g_3", "threshold",
                               "threshold_spike", "threshold_voltage", "ASCurrents_sum", "I"]
    m = cell.recordable_map
    assert m["g_3"] == ("g_3", 1.0, "nS") and m["ASCurrents_sum"] == ("ASCurrents_sum", 1.0, "pA")
    assert m["I"] == ("I", 1.0, "pA") and m["V_m"] == ("V_m", 1.0, "mV")
    assert cell.units["g_m"] == "nS" and cell.units["C_m"] == "pF"


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("params, names", [
    (dict(v_reset=-40.0), ["V_reset", "v_reset"]),
    (dict(cm=0.0), ["C_m", "cm"]),
    (dict(tau_m=-1.0), ["g", "tau_m"]),
    (dict(tau_m=0.0), ["g", "tau_m"]),
    (dict(tau_refrac=0.0), ["t_ref", "tau_refrac"]),
    (dict(tau_syn=[1.0, 0.0]), ["tau_syn"]),
    (dict(tau_syn=[1.0, 2.0, 3.0]), ["E_rev", "tau_syn"]),
    (dict(spike_dependent_threshold=True, voltage_reset_fraction=1.5),
     ["voltage_reset_fraction"]),
    (dict(after_spike_currents=True, asc_r=[1.0, 2.0]), ["asc_r"]),
    (dict(spike_dependent_threshold=True, adapting_threshold=True),
     ["Incorrect model mechanism combination"]),
])
def test_invalid_parameters_raise_pynn_errors(params, names):
    with pytest.raises(errors.InvalidParameterValueError) as info:
        GLIF_cond(**params)
    assert isinstance(info.value, ValueError)
    for name in names:
        assert name in str(info.value)


def test_disabled_mechanisms_are_not_checked():
    GLIF_cond(voltage_reset_fraction=1.5, asc_r=[2.0, 2.0])        # GLIF1: accepted


def test_invalid_heterogeneous_value_caught_by_model_kwargs():
    cell = GLIF_cond(v_reset=[-70.0, -40.0])           # not homogeneous: checked per cell later
    with pytest.raises(errors.InvalidParameterValueError, match="V_reset.*v_reset"):
        cell.model_kwargs(2)


def test_heterogeneous_flags_refused():
    cell = GLIF_cond(spike_dependent_threshold=[True, False])
    with pytest.raises(errors.InvalidParameterValueError, match="same for all cells"):
        cell.model_kwargs(2)
    with pytest.raises(errors.InvalidParameterValueError, match="spike_dependent_threshold"):
        cell.flags


def test_heterogeneous_port_counts_refused():
    cell = GLIF_cond(tau_syn=[[1.0, 2.0], [1.0, 2.0, 3.0]])
    with pytest.raises(errors.InvalidParameterValueError, match="tau_syn"):
        cell.receptor_types


def test_validate_native_accepts_plain_dicts():
    p = {k: np.asarray(v) for k, v in NATIVE_DEFAULTS.items()}
    p["tau_syn"] = np.array([[0.2, 2.0], [0.3, 3.0]])
    kw = validate_native(p, 2)
    assert kw["tau_syn"].shape == (2, 2) and kw["E_rev"].shape == (2, 2)
    assert kw["g"].shape == (2,)
    with pytest.raises(errors.InvalidParameterValueError, match="C_m"):
        validate_native(dict(p, C_m=np.array([1.0, -1.0])), 2)
    with pytest.raises(errors.InvalidParameterValueError, match="adapting_threshold"):
        validate_native(dict(p, adapting_threshold=np.array([True, False])), 2)
    with pytest.raises(errors.InvalidParameterValueError, match="missing"):
        validate_native({k: v for k, v in p.items() if k != "g"}, 2)
    with pytest.raises(errors.InvalidParameterValueError, match="finite"):
        validate_native(dict(p, t_ref=np.inf), 2)


# ---------------------------------------------------------------- variants
@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_variant_helper(number):
    cell = GLIF_cond.variant(number, v_thresh=-50.0)
    assert cell.glif_variant == number
    assert cell.model_kwargs(1)["adapting_threshold"] is (number == 5)


def test_variant_helper_refuses_bad_input():
    with pytest.raises(errors.InvalidParameterValueError):
        GLIF_cond.variant(6)
    with pytest.raises(errors.InvalidParameterValueError):
        GLIF_cond.variant(2, spike_dependent_threshold=False)


# ---------------------------------------------------------------- native type
def test_native_type_names_and_translation():
    cls = native_cell_type("glif_cond")
    assert cls is native_cell_type("glif_cond") and cls.__name__ == "glif_cond"
    assert set(cls.default_parameters) == (set(MODEL_PARAMETERS) - {"g"}) | {"g_m"}
    cell = cls(g_m=20.0, C_m=100.0, asc_amps=[-1.0, -2.0], after_spike_currents=True)
    n = evaluated(cell.native_parameters)
    assert n["g"] == 20.0 and n["C_m"] == 100.0
    np.testing.assert_array_equal(n["asc_amps"].value, [-1.0, -2.0])
    assert cell.default_initial_values == {"V_m": -78.85}
    assert cell.initial_value_map == {"V_m": ("V_m", 1.0)}
    assert cell.receptor_types == ["receptor_0", "receptor_1", "excitatory", "inhibitory"]
    assert cell.glif_variant == 3
    with pytest.raises(errors.InvalidParameterValueError, match="g_m"):
        cls(g_m=0.0)


def test_unknown_names():
    with pytest.raises(errors.NonExistentParameterError):
        native_cell_type("glif_cond")(g=1.0)          # NEST's key is g_m
    with pytest.raises(errors.NonExistentParameterError):
        GLIF_cond(tau_syn_E=1.0)
    with pytest.raises(UnknownNativeModelError):
        native_cell_type("iaf_psc_alpha")
    with pytest.raises(ValueError):
        native_cell_type("iaf_psc_alpha")
    assert set(FLAGS) <= set(GLIF_cond.default_parameters)
