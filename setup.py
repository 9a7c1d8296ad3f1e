"""Build hook: install ``pynn_brainpy_alias.pth`` into site-packages.

All metadata is in setup.cfg. The one thing it cannot express is a ``.pth``
file at the top of site-packages, which makes ``import pyNN.brainpy`` (how
PyNN's ``get_simulator`` and test scenarios load a backend by name) give the
``pynn_brainpy`` package; see pynn_brainpy_alias.py and docs/pynn_examples.md.
The line only installs a tiny import hook: pynn_brainpy and JAX are imported
when ``pyNN.brainpy`` is, not at interpreter start.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "pynn_brainpy_alias.pth"
PTH_LINE = "import pynn_brainpy_alias; pynn_brainpy_alias.install()\n"


class build_py_with_alias_pth(build_py):
    """build_py, plus the alias .pth at the root of the installed tree."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            # PEP 660 editable wheel (setuptools >= 64): build_lib is thrown
            # away, the wheel is made from install_lib (the unpacked wheel).
            root = self.get_finalized_command("install").install_lib
        else:
            root = self.build_lib  # regular wheel: build_lib -> site-packages
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, PTH_NAME), "w") as f:
            f.write(PTH_LINE)


setup(cmdclass={"build_py": build_py_with_alias_pth})
