"""Synapse types of the pynn_brainpy backend.

Weights and delays are kept in PyNN's units (µS or nA, ms); the projection scales weights to
the target model's input unit and rounds delays to whole steps when the network is built.
"""

from pyNN.standardmodels import build_translations, synapses

from ..simulator import state

__all__ = ["StaticSynapse"]


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = build_translations(("weight", "weight"), ("delay", "delay"))

    def _get_minimum_delay(self):
        return state.resolved_min_delay()


# ------------------------------------------------------------------ plastic and stochastic types
# The dynamics live in pynn_brainpy.models.synapses (no PyNN there). Native names equal the
# PyNN names and units (weights, w_min, w_max, eta in µS or nA); engine_dynamics scales the
# weight-like ones to the target model's unit with ``weight_scale``. Values are checked three
# times: scalars when the type is created, evaluable values when they are translated
# (Projection creation and set), and all of them when the engine is (re)built.

import numpy as np                                                     # noqa: E402
from pyNN import errors                                                # noqa: E402
from pyNN.random import RandomDistribution                             # noqa: E402

from ..models import synapses as dynamics                              # noqa: E402

__all__ += ["TsodyksMarkramSynapse", "STDPMechanism", "SpikePairRule", "Vogels2011Rule",
            "AdditiveWeightDependence", "MultiplicativeWeightDependence",
            "AdditivePotentiationMultiplicativeDepression", "GutigWeightDependence",
            "SimpleStochasticSynapse", "StochasticTsodyksMarkramSynapse", "MultiQuantalSynapse",
            "ElectricalSynapse"]

_POSITIVE = (lambda v: v > 0, "must be > 0")
_NON_NEGATIVE = (lambda v: v >= 0, "must be >= 0")
_PROBABILITY = (lambda v: (v >= 0) & (v <= 1), "must be in [0, 1]")


def _fail(owner, name, values, sentence):
    values = np.asarray(values, float).reshape(-1)
    raise errors.InvalidParameterValueError(
        f"{owner}: {name} {sentence} (got {values[0] if values.size == 1 else values})")


def _check_values(owner, checks, values):
    """``checks`` {name: (predicate, sentence)} on the evaluated ``values`` (name -> array)."""
    for name, (ok, sentence) in checks.items():
        if name not in values:
            continue
        v = np.asarray(values[name], float)
        good = ok(v) & np.isfinite(v) if v.size else np.ones(0, bool)
        if not np.all(good):
            _fail(owner, name, v[~good], sentence)
    if "w_min" in values and "w_max" in values:
        w_min, w_max = (np.asarray(values[k], float) for k in ("w_min", "w_max"))
        if np.any(w_min > w_max):
            _fail(owner, "w_min", w_min[np.broadcast_to(w_min > w_max, w_min.shape)],
                  f"must be <= w_max ({np.max(w_max)})")


def _evaluable(parameter_space):
    """The values of ``parameter_space`` that can be evaluated without drawing random
    numbers or knowing distances (the rest is checked when the network is built)."""
    out = {}
    for name in parameter_space.keys():
        lazy = parameter_space[name]
        base = getattr(lazy, "base_value", lazy)
        if isinstance(base, RandomDistribution) or callable(base):
            continue
        try:
            if getattr(lazy, "is_homogeneous", False):
                out[name] = np.asarray(base if not getattr(lazy, "operations", None)
                                       else lazy.evaluate(simplify=True), float)
            elif parameter_space.shape is not None:
                values = np.asarray(lazy.evaluate(simplify=False), float)
                if values.ndim == 2:      # a connection matrix: NaN marks "no connection"
                    values = values[~np.isnan(values)]
                out[name] = values
        except Exception:                                # noqa: BLE001 -- checked later
            continue
    return out


class _Checked:
    """Parameter checks on creation and translation (PyNN's error type, naming the name)."""
    checks = {}

    def _all_checks(self):
        return dict(self.checks)

    def _check_parameter_space(self, parameter_space):
        _check_values(self.__class__.__name__, self._all_checks(), _evaluable(parameter_space))

    def translate(self, parameters, copy=True):
        self._check_parameter_space(parameters)
        return super().translate(parameters, copy=copy)

    def _get_minimum_delay(self):
        return state.resolved_min_delay()


def _tau_psc(context):
    """The target's synaptic time constant for the receptor (pyNN.nest sets NEST's
    ``tau_psc`` to it), or 0 (the cleft-free limit) when it is not known."""
    if not context:
        return 0.0
    population, index = context.get("post_population"), context.get("post_index")
    name = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I"}.get(
        context.get("receptor_type"))
    if population is None or name is None or index is None or \
            not population.celltype.has_parameter(name):
        return 0.0
    values = np.asarray(population.get(name, gather=True, simplify=False), float)
    return values.reshape(-1)[np.asarray(index, np.int64)]


class TsodyksMarkramSynapse(_Checked, synapses.TsodyksMarkramSynapse):
    __doc__ = synapses.TsodyksMarkramSynapse.__doc__ + """
    pynn_brainpy: NEST's ``tsodyks_synapse`` (:class:`pynn_brainpy.models.synapses.
    TsodyksSynapse`), ``tau_psc`` = the target's ``tau_syn_E``/``tau_syn_I`` as in pyNN.nest.
    """
    translations = build_translations(
        ("weight", "weight"), ("delay", "delay"), ("U", "U"), ("tau_rec", "tau_rec"),
        ("tau_facil", "tau_facil"))
    checks = {"U": _PROBABILITY, "tau_rec": _POSITIVE, "tau_facil": _NON_NEGATIVE}
    #: states that ``Projection.initialize`` may set (NEST's tsodyks_synapse: x, y, u)
    state_variables = ("u", "x", "y")

    def __init__(self, **parameters):
        super().__init__(**parameters)
        self._check_parameter_space(self.parameter_space)

    def engine_dynamics(self, values, weight_scale, **context):
        _check_values(self.__class__.__name__, self.checks, values)
        return dynamics.TsodyksSynapse(values["U"], values["tau_rec"], values["tau_facil"],
                                       _tau_psc(context), n=np.size(values["U"]))


class SimpleStochasticSynapse(_Checked, synapses.SimpleStochasticSynapse):
    __doc__ = synapses.SimpleStochasticSynapse.__doc__ + """
    pynn_brainpy: NEST's ``bernoulli_synapse`` (as pyNN.nest).
    """
    translations = build_translations(("weight", "weight"), ("delay", "delay"), ("p", "p"))
    checks = {"p": _PROBABILITY}

    def __init__(self, **parameters):
        super().__init__(**parameters)
        self._check_parameter_space(self.parameter_space)

    def engine_dynamics(self, values, weight_scale, **context):
        _check_values(self.__class__.__name__, self.checks, values)
        return dynamics.BernoulliSynapse(values["p"], n=np.size(values["p"]))


class StochasticTsodyksMarkramSynapse(_Checked, synapses.StochasticTsodyksMarkramSynapse):
    __doc__ = synapses.StochasticTsodyksMarkramSynapse.__doc__ + """
    pynn_brainpy: PyNN's NEST extension ``stochastic_stp_synapse`` (as pyNN.nest).
    """
    translations = TsodyksMarkramSynapse.translations
    checks = TsodyksMarkramSynapse.checks

    def __init__(self, **parameters):
        super().__init__(**parameters)
        self._check_parameter_space(self.parameter_space)

    def engine_dynamics(self, values, weight_scale, **context):
        _check_values(self.__class__.__name__, self.checks, values)
        return dynamics.StochasticStpSynapse(values["U"], values["tau_rec"],
                                             values["tau_facil"], n=np.size(values["U"]))


class MultiQuantalSynapse(_Checked, synapses.MultiQuantalSynapse):
    __doc__ = """Synapse with ``n`` release sites and short-term plasticity (Fuhrmann et al.
    2002): each available site releases with probability ``u`` at a presynaptic spike and
    recovers with time constant ``tau_rec``; ``u`` facilitates with ``tau_facil``.

    pynn_brainpy: NEST's ``quantal_stp_synapse`` (as pyNN.nest), ``u`` starting at ``U``.
    """
    #: states that ``Projection.initialize`` may set: available sites, release probability
    state_variables = ("a", "u")
    translations = build_translations(
        ("weight", "weight"), ("delay", "delay"), ("U", "U"), ("n", "n"),
        ("tau_rec", "tau_rec"), ("tau_facil", "tau_facil"))
    checks = {"U": _PROBABILITY, "tau_rec": _POSITIVE, "tau_facil": _NON_NEGATIVE,
              "n": (lambda v: (v >= 1) & (v == np.round(v)), "must be a whole number >= 1")}

    def get_schema(self):
        return dict(super().get_schema(), n=float)    # connection values are float arrays

    def __init__(self, **parameters):
        super().__init__(**parameters)
        self._check_parameter_space(self.parameter_space)

    def engine_dynamics(self, values, weight_scale, **context):
        _check_values(self.__class__.__name__, self.checks, values)
        return dynamics.QuantalStpSynapse(values["U"], values["tau_rec"], values["tau_facil"],
                                          values["n"], n=np.size(values["U"]))


class ElectricalSynapse(_Checked, synapses.ElectricalSynapse):
    """A gap junction of fixed conductance ``weight`` (µS, >= 0) between the two cells of
    every connection, in both directions and without delay:

        I_post = g·(V_pre − V_post),        I_pre = g·(V_post − V_pre) = −I_post

    (nA for g in µS and V in mV), added to the cells' input currents and summed over all their
    junctions. A connection i→j is one junction; a connection j→i as well is a second one
    (``AllToAllConnector`` within a population couples each pair twice).

    pynn_brainpy: explicit coupling, as NEST's ``gap_junction`` without waveform relaxation
    (``use_wfr=False``): at the start of each step the current is computed from the
    voltages at the end of the previous step and held over the step
    (:mod:`pynn_brainpy.engine.gap_junctions`; first order in dt, accurate while
    dt·G/C ≪ 1 for a cell's summed junction conductance G). Both sides must be neuron
    populations (not spike sources). ``receptor_type`` does not apply: any receptor type of
    the target (PyNN's default guess included) is accepted and ignored. There is no delay.
    """
    translations = build_translations(("weight", "weight"))
    checks = {"weight": _NON_NEGATIVE}
    #: the projection makes gap junctions, not spike-transmitting synapses
    gap_junction = True

    def __init__(self, **parameters):
        self._require_known(parameters)
        super().__init__(**parameters)
        self._check_parameter_space(self.parameter_space)

    def _require_known(self, names):
        """PyNN's error for a parameter it does not have (``delay``: PyNN's schema of every
        standard synapse type lists it, and its translation would fail with a KeyError)."""
        for name in names:
            if name not in self.translations:
                raise errors.NonExistentParameterError(
                    name, self.__class__.__name__, list(self.translations))

    def translate(self, parameters, copy=True):
        self._require_known(parameters.keys())
        return super().translate(parameters, copy=copy)

    def get_native_names(self, *names):
        self._require_known(names)
        return super().get_native_names(*names)


# ------------------------------------------------------------------ STDP
class _Component(_Checked):
    def __init__(self, *args, **parameters):
        super().__init__(*args, **parameters)
        self._check_parameter_space(self.parameter_space)


class AdditiveWeightDependence(_Component, synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = build_translations(("w_max", "w_max"), ("w_min", "w_min"))
    possible_models = {"stdp_synapse", "vogels_sprekeler_synapse"}
    checks = {"w_max": (np.isfinite, "must be finite"), "w_min": (np.isfinite, "must be finite")}
    mu = (0.0, 0.0)


class MultiplicativeWeightDependence(_Component, synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = AdditiveWeightDependence.translations
    possible_models = {"stdp_synapse"}
    checks = AdditiveWeightDependence.checks
    mu = (1.0, 1.0)


class AdditivePotentiationMultiplicativeDepression(
        _Component, synapses.AdditivePotentiationMultiplicativeDepression):
    __doc__ = synapses.AdditivePotentiationMultiplicativeDepression.__doc__
    translations = AdditiveWeightDependence.translations
    possible_models = {"stdp_synapse"}
    checks = AdditiveWeightDependence.checks
    mu = (0.0, 1.0)


class GutigWeightDependence(_Component, synapses.GutigWeightDependence):
    __doc__ = synapses.GutigWeightDependence.__doc__
    translations = build_translations(("w_max", "w_max"), ("w_min", "w_min"),
                                      ("mu_plus", "mu_plus"), ("mu_minus", "mu_minus"))
    possible_models = {"stdp_synapse"}
    checks = dict(AdditiveWeightDependence.checks, mu_plus=_NON_NEGATIVE,
                  mu_minus=_NON_NEGATIVE)
    mu = None


class SpikePairRule(_Component, synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = build_translations(("tau_plus", "tau_plus"), ("tau_minus", "tau_minus"),
                                      ("A_plus", "A_plus"), ("A_minus", "A_minus"))
    possible_models = {"stdp_synapse"}
    checks = {"tau_plus": _POSITIVE, "tau_minus": _POSITIVE, "A_plus": _NON_NEGATIVE,
              "A_minus": _NON_NEGATIVE}


class Vogels2011Rule(_Component, synapses.Vogels2011Rule):
    __doc__ = synapses.Vogels2011Rule.__doc__ + """
    pynn_brainpy: NEST's ``vogels_sprekeler_synapse`` with ``alpha = 2·rho·tau/1000`` (rho,
    the target rate, in Hz; tau in ms) and ``eta`` in the weight's unit (µS or nA); use it
    with AdditiveWeightDependence (its w_max is NEST's Wmax; w_min bounds the magnitude).
    """
    translations = build_translations(("tau", "tau"), ("eta", "eta"), ("rho", "rho"))
    possible_models = {"vogels_sprekeler_synapse"}
    checks = {"tau": _POSITIVE, "eta": _NON_NEGATIVE, "rho": _NON_NEGATIVE}


class STDPMechanism(_Checked, synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__ + """
    pynn_brainpy: NEST's ``stdp_synapse`` (SpikePairRule) or ``vogels_sprekeler_synapse``
    (Vogels2011Rule), all of the delay dendritic (``dendritic_delay_fraction = 1``, as
    pyNN.nest). See :mod:`pynn_brainpy.models.synapses`.
    """
    base_translations = build_translations(
        ("weight", "weight"), ("delay", "delay"),
        ("dendritic_delay_fraction", "dendritic_delay_fraction"))

    def __init__(self, timing_dependence=None, weight_dependence=None,
                 voltage_dependence=None, dendritic_delay_fraction=1.0, weight=0.0, delay=None):
        if timing_dependence is None or weight_dependence is None:
            raise errors.InvalidParameterValueError(
                "STDPMechanism needs a timing_dependence and a weight_dependence.")
        if voltage_dependence is not None:
            raise NotImplementedError("pynn_brainpy has no voltage-dependent STDP.")
        if dendritic_delay_fraction != 1:
            raise NotImplementedError(
                "pynn_brainpy (like NEST) treats the whole delay as dendritic for STDP: "
                f"dendritic_delay_fraction must be 1 (got {dendritic_delay_fraction}).")
        super().__init__(timing_dependence, weight_dependence, voltage_dependence,
                         dendritic_delay_fraction, weight, delay)
        self.possible_models                          # NoModelAvailableError if incompatible

    def _build_translations(self):
        self.translations = dict(self.__class__.base_translations)   # PyNN mutates the class's
        for component in (self.timing_dependence, self.weight_dependence):
            self.translations.update(component.translations)

    def _all_checks(self):
        return dict(self.timing_dependence.checks, **self.weight_dependence.checks)

    def engine_dynamics(self, values, weight_scale, **context):
        owner = self.__class__.__name__
        _check_values(owner, self._all_checks(), values)
        if "delay" not in values:
            raise NotImplementedError("STDPMechanism needs the connections' delays.")
        delay_steps = np.floor(np.asarray(values["delay"], float) * (1.0 / state.dt) + 0.5)
        w_min = np.asarray(values["w_min"], float) * weight_scale
        w_max = np.asarray(values["w_max"], float) * weight_scale
        if isinstance(self.timing_dependence, Vogels2011Rule):
            return dynamics.VogelsSprekelerSynapse(
                delay_steps, state.dt, tau=values["tau"], eta=values["eta"] * weight_scale,
                alpha=2.0 * values["rho"] * values["tau"] / 1000.0, w_min=w_min, w_max=w_max)
        mu = self.weight_dependence.mu or (values["mu_plus"], values["mu_minus"])
        return dynamics.StdpSynapse(
            delay_steps, state.dt, tau_plus=values["tau_plus"], tau_minus=values["tau_minus"],
            A_plus=values["A_plus"], A_minus=values["A_minus"], mu_plus=mu[0],
            mu_minus=mu[1], w_min=w_min, w_max=w_max)
