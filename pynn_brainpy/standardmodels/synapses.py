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
