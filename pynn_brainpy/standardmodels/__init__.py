"""PyNN cell types of the pynn_brainpy backend.

:mod:`.cells` holds the standard cell type :class:`~.cells.GLIF_cond` (PyNN names and units)
and :func:`~.cells.native_cell_type`, which gives the model under NEST's names and units.
"""
