"""brainstate models usable without PyNN (one model per module)."""

from .glif_cond import glif_cond

__all__ = ["glif_cond"]
