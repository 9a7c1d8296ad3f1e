"""The ``pyNN.brainpy`` alias (pynn_brainpy_alias.py, installed by a .pth file).

The subprocess tests check the installed environment: a fresh interpreter,
started outside the repository, must resolve ``pyNN.brainpy`` to
``pynn_brainpy`` the way PyNN's ``get_simulator`` and test scenarios ask for
it, without importing anything heavy at start-up.  The in-process tests check
the finder's mechanics on a stub package, independent of the state of
``pynn_brainpy`` itself.
"""

import importlib
import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

import pynn_brainpy_alias

HINT = ("the pyNN.brainpy alias is not installed: `pip install -e .` (or `pip install .`) "
        "puts pynn_brainpy_alias.pth in site-packages; see docs/pynn_examples.md")


def _installed():
    try:
        importlib.metadata.distribution("pynn_brainpy")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_install = pytest.mark.skipif(
    not _installed(), reason="pynn_brainpy is not pip-installed (only on sys.path?), so no .pth")


def _run(code, cwd, *args):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{HINT}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc.stdout


@needs_install
def test_startup_installs_finder_lazily(tmp_path):
    out = _run("""
        import sys
        names = [getattr(f, '__module__', '') + '.' + getattr(f, '__name__', '') for f in sys.meta_path]
        print(names)
        assert 'pynn_brainpy_alias.AliasFinder' in names, 'finder not in sys.meta_path'
        heavy = [m for m in ('pynn_brainpy', 'pyNN', 'jax', 'numpy', 'brainstate') if m in sys.modules]
        assert not heavy, f'imported at start-up: {heavy}'
        """, tmp_path)
    assert "pynn_brainpy_alias.AliasFinder" in out


@needs_install
def test_import_pyNN_brainpy_is_pynn_brainpy(tmp_path):
    _run("""
        import pyNN.brainpy, pynn_brainpy, sys
        assert pyNN.brainpy is pynn_brainpy
        assert sys.modules['pyNN.brainpy'] is sys.modules['pynn_brainpy']
        assert pynn_brainpy.__spec__.name == 'pynn_brainpy'
        import pyNN
        assert pyNN.brainpy is pynn_brainpy
        """, tmp_path)


@needs_install
def test_get_simulator_from_command_line(tmp_path):
    """What `python some_pynn_example.py brainpy` does."""
    _run("""
        import sys
        from pyNN.utility import get_simulator
        sim, options = get_simulator()
        import pynn_brainpy
        assert sim is pynn_brainpy, sim
        assert options.simulator == 'brainpy'
        """, tmp_path, "brainpy")


# ---------------------------------------------------------------- mechanics on a stub

STUB_INIT = """
import sys
sys.modules.setdefault('_stub_exec_count', [])
sys.modules['_stub_exec_count'].append(__name__)
from . import sub
"""


@pytest.fixture
def stub_alias(tmp_path, monkeypatch):
    """Alias ``pyNN._alias_stub`` -> a throw-away package ``_pynn_stub_pkg``."""
    pkg = tmp_path / "_pynn_stub_pkg"
    (pkg / "inner").mkdir(parents=True)
    (pkg / "__init__.py").write_text(STUB_INIT)
    (pkg / "sub.py").write_text("import sys\nsys.modules['_stub_exec_count'].append(__name__)\n")
    (pkg / "late.py").write_text("import sys\nsys.modules['_stub_exec_count'].append(__name__)\n"
                                 "from .sub import __name__ as sub_name\n")
    (pkg / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    (pkg / "inner" / "__init__.py").write_text("")
    (pkg / "inner" / "leaf.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pynn_brainpy_alias, "ALIAS", "pyNN._alias_stub")
    monkeypatch.setattr(pynn_brainpy_alias, "TARGET", "_pynn_stub_pkg")
    was_installed = pynn_brainpy_alias.AliasFinder in sys.meta_path
    pynn_brainpy_alias.install()
    sys.modules["_stub_exec_count"] = []
    yield
    pynn_brainpy_alias.uninstall()  # removes the stub alias entries (ALIAS is patched)
    if was_installed:
        pynn_brainpy_alias.install()
    for name in [n for n in sys.modules if n.startswith("_pynn_stub_pkg") or n == "_stub_exec_count"]:
        del sys.modules[name]


def test_alias_is_same_module_and_runs_once(stub_alias):
    alias = importlib.import_module("pyNN._alias_stub")
    real = importlib.import_module("_pynn_stub_pkg")
    assert alias is real
    assert real.__name__ == "_pynn_stub_pkg"
    assert real.__spec__.name == "_pynn_stub_pkg"  # restored after the import system set the alias spec
    import pyNN
    assert pyNN._alias_stub is real
    assert sys.modules["_stub_exec_count"] == ["_pynn_stub_pkg", "_pynn_stub_pkg.sub"]


def test_submodules_alias_both_orders(stub_alias):
    # alias first, real name second
    late = importlib.import_module("pyNN._alias_stub.late")
    assert late is importlib.import_module("_pynn_stub_pkg.late")
    assert sys.modules["pyNN._alias_stub.late"] is sys.modules["_pynn_stub_pkg.late"]
    assert late.__spec__.name == "_pynn_stub_pkg.late"
    assert not hasattr(late, "__path__"), "a plain module must not become a package"
    # real name first (imported by the package __init__), alias second
    assert importlib.import_module("pyNN._alias_stub.sub") is sys.modules["_pynn_stub_pkg.sub"]
    # nested package
    from pyNN._alias_stub.inner import leaf
    assert leaf is importlib.import_module("_pynn_stub_pkg.inner.leaf")
    # nothing was executed twice
    counts = sys.modules["_stub_exec_count"]
    assert sorted(counts) == sorted(set(counts)), counts


def test_errors_propagate(stub_alias):
    with pytest.raises(RuntimeError, match="broken on purpose"):
        importlib.import_module("pyNN._alias_stub.broken")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pyNN._alias_stub.does_not_exist")
    assert "pyNN._alias_stub.broken" not in sys.modules


def test_only_the_alias_name_is_claimed(stub_alias):
    finder = pynn_brainpy_alias.AliasFinder
    assert finder.find_spec("pyNN._alias_stubX") is None
    assert finder.find_spec("pyNN.nest") is None
    assert finder.find_spec("pyNN") is None
    assert finder.find_spec("pyNN._alias_stub.x").name == "pyNN._alias_stub.x"


def test_install_is_idempotent():
    before = list(sys.meta_path)
    pynn_brainpy_alias.install()
    pynn_brainpy_alias.install()
    assert sum(f is pynn_brainpy_alias.AliasFinder for f in sys.meta_path) == 1
    from importlib.machinery import PathFinder
    assert sys.meta_path.index(pynn_brainpy_alias.AliasFinder) < sys.meta_path.index(PathFinder)
    sys.meta_path[:] = before
