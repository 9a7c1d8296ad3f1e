"""Make ``import pyNN.brainpy`` give the ``pynn_brainpy`` package.

PyNN picks a backend by name: ``pyNN.utility.get_simulator`` (used by PyNN's
example scripts, ``python example.py brainpy``) runs
``importlib.import_module("pyNN.%s" % name)``, and PyNN's own test scenarios
do the same.  ``pyNN`` is a regular package, so another distribution cannot
add a ``pyNN/brainpy`` module to it.  Instead, this module holds a small
meta path finder that answers for the names ``pyNN.brainpy`` and
``pyNN.brainpy.<sub>`` with the modules ``pynn_brainpy`` and
``pynn_brainpy.<sub>``: the *same* module objects, so that
``pyNN.brainpy is pynn_brainpy`` and
``pyNN.brainpy.simulator is pynn_brainpy.simulator``.

The finder is installed at interpreter start by the file
``pynn_brainpy_alias.pth`` that ``pip install`` puts in site-packages (see
``docs/pynn_examples.md``).  Installing it imports nothing but this file;
``pynn_brainpy`` (and JAX) are imported only when ``pyNN.brainpy`` is.
Where the ``.pth`` file is missing (package only on ``PYTHONPATH``), call
``pynn_brainpy_alias.install()`` yourself, or just ``import pynn_brainpy``:
the alias is only needed for code that asks PyNN for the backend by name.
"""

import sys

ALIAS = "pyNN.brainpy"
TARGET = "pynn_brainpy"

__all__ = ["install", "uninstall", "AliasFinder"]


class _AliasLoader:
    """Loader whose "module" is an already importable module under another name."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        import importlib

        module = importlib.import_module(self.target)
        # The import system overwrites ``module.__spec__`` with the alias spec
        # between create_module and exec_module; keep the real one to put back.
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module):
        # Already executed under its real name. Restore the real spec so that
        # the module's identity (relative imports, reload, pickling) is
        # unchanged by having been reached through the alias.
        module.__spec__ = self._real_spec


class AliasFinder:
    """Meta path finder mapping ``pyNN.brainpy[.x]`` to ``pynn_brainpy[.x]``."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        from importlib.machinery import ModuleSpec

        real = TARGET + fullname[len(ALIAS):]
        # The loader imports the real module. This finder must come before the
        # path finder in sys.meta_path, or submodules found through
        # pynn_brainpy.__path__ would be executed a second time under the alias.
        # is_package=False: the import system must not add a __path__ to plain
        # modules; packages keep their own __path__.
        return ModuleSpec(fullname, _AliasLoader(real), is_package=False)

    @classmethod
    def invalidate_caches(cls):
        pass


def install():
    """Put the finder first in ``sys.meta_path`` (idempotent)."""
    if not any(f is AliasFinder for f in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder)


def uninstall():
    """Remove the finder and any ``pyNN.brainpy`` entries from ``sys.modules``."""
    sys.meta_path[:] = [f for f in sys.meta_path if f is not AliasFinder]
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        del sys.modules[name]
    parent, _, child = ALIAS.rpartition(".")
    if child in vars(sys.modules.get(parent, sys)):
        delattr(sys.modules[parent], child)
