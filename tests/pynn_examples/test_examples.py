"""PyNN 0.13.0's own example scripts (``examples/`` of the sdist), run on pynn_brainpy.

The scripts are not copied into this repository: the PyNN 0.13.0 sdist is fetched and
verified at test time (tests/pynn_sdist.py, shared with tests/pynn_suite) and its
``examples/`` folder is extracted unmodified into the cache. Each example runs exactly as a
user would run it,

    python <cache>/examples/<script>.py brainpy [its other arguments]

in a fresh temporary working directory (the scripts write ``Results/``), with
``MPLBACKEND=Agg``, and passes when the script exits with status 0. ``brainpy`` reaches our
package through PyNN's ``get_simulator`` → ``import pyNN.brainpy`` (the import hook that
``pip install`` puts in site-packages, see docs/pynn_examples.md); so these tests also
check that mechanism end to end. The scripts that can plot are run with ``--plot-figure``,
which reads back every recorded signal through Neo and matplotlib.

None of the scripts has an option to shorten the simulation. The default run is a subset
chosen to stay within a few minutes on a 2-core CPU; ``PYNN_EXAMPLES_ALL=1`` runs all.

Run only these:  ``pytest tests/pynn_examples``   (``-k VAbenchmarks`` etc.).

Environment (besides tests/pynn_sdist.py's PYNN_SDIST, PYNN_BRAINPY_CACHE, PYNN_SUITE_REQUIRED):
  PYNN_EXAMPLES_ALL=1      run every example, not only the default subset
  PYNN_EXAMPLES_TIMEOUT=S  seconds allowed per script (default 600)
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pynn_sdist  # tests/pynn_sdist.py: fetch, verify, cache and extract the sdist

SIMULATOR = "brainpy"  # -> get_simulator -> importlib.import_module("pyNN.brainpy")
FOLDER = "examples"
PLOT = "--plot-figure"
ALL = bool(os.environ.get("PYNN_EXAMPLES_ALL"))
TIMEOUT = float(os.environ.get("PYNN_EXAMPLES_TIMEOUT") or 600)

# One test per (script, arguments). ``default``: in the default run (False: only with
# PYNN_EXAMPLES_ALL=1). ``requires``: third-party modules the script imports; without them
# the test is skipped. The runtimes in docs/pynn_examples.md say why a script is or is not
# in the default subset.
EXAMPLES = {
    # test id: (script, arguments after the simulator name, default, requires)
    # --- default run
    "VAbenchmarks-CUBA": ("VAbenchmarks.py", ["CUBA", PLOT], True, ()),
    "VAbenchmarks-COBA": ("VAbenchmarks.py", ["COBA", PLOT], True, ()),
    "brunel": ("brunel.py", [], True, ()),
    "Izhikevich": ("Izhikevich.py", [PLOT], True, ()),
    "cell_type_demonstration": ("cell_type_demonstration.py", [PLOT], True, ()),
    "gif_neuron": ("gif_neuron.py", [PLOT], True, ()),
    "synaptic_input": ("synaptic_input.py", [PLOT], True, ()),
    "multi_synapse": ("multi_synapse.py", [PLOT], True, ()),
    "monolith_vs_composed": ("monolith_vs_composed.py", [PLOT], True, ()),
    "tsodyksmarkram": ("tsodyksmarkram.py", [PLOT], True, ()),
    "stochastic_synapses": ("stochastic_synapses.py", [PLOT], True, ()),
    "stochastic_tsodyksmarkram": ("stochastic_tsodyksmarkram.py", [PLOT], True, ()),
    "multiquantal_synapses": ("multiquantal_synapses.py", [PLOT], True, ()),
    "simple_STDP": ("simple_STDP.py", [PLOT, "--fit-curve"], True, ()),
    "stdp_network": ("stdp_network.py", [], True, ()),
    "random_numbers": ("random_numbers.py", [PLOT], True, ()),
    "StepCurrentSource": ("StepCurrentSource.py", [], True, ()),
    "connections": ("connections.py", [], True, ()),
    "specific_network": ("specific_network.py", [], True, ()),
    "update_spike_source_array": ("update_spike_source_array.py", [PLOT], True, ()),
    "varying_poisson": ("varying_poisson.py", [PLOT], True, ()),
    # --- only with PYNN_EXAMPLES_ALL=1 (runtime; their features are covered above or in tests/pynn)
    "stochastic_deterministic_comparison":
        ("stochastic_deterministic_comparison.py", [PLOT], False, ()),
    "HH_cond_exp2": ("HH_cond_exp2.py", [], False, ()),
    "current_injection": ("current_injection.py", [PLOT], False, ()),
    "simpleRandomNetwork": ("simpleRandomNetwork.py", [], False, ()),
    "small_network": ("small_network.py", [PLOT], False, ()),
    "inhomogeneous_network": ("inhomogeneous_network.py", [], False, ()),
    "parameter_changes": ("parameter_changes.py", [], False, ()),
    "simpleRandomNetwork_csa": ("simpleRandomNetwork_csa.py", [], False, ("csa",)),
    "distrib_example": ("distrib_example.py", [], False, ("mpi4py",)),
    "nineml_neuron": ("nineml_neuron.py", [], False, ("nineml",)),
}

# Scripts in examples/ that do not take a simulator name, or hard-wire another backend.
NOT_APPLICABLE = {
    "nineml_brunel.py": "hard-wires pyNN.neuron (and needs ninemlcatalog)",
    "nrn_artificial_cell.py": "hard-wires pyNN.neuron (NEURON's IntFire1 artificial cell)",
    "random_distributions.py": "uses no simulator (plots pyNN.random distributions)",
}


def _load():
    try:
        return pynn_sdist.extract(FOLDER, FOLDER, "VAbenchmarks.py", tag=FOLDER), None
    except Exception as err:  # reported by the tests themselves
        return None, f"PyNN {pynn_sdist.PYNN_VERSION} examples unavailable: {err}"


ROOT, UNAVAILABLE = _load()

#: Examples that do not pass yet, one test id per line with the reason after ``#``
#: (known_failures.txt). They run as strict xfails: one that starts to pass fails the
#: suite until its line is removed, so the list can only shrink honestly.
KNOWN_FAILURES = pynn_sdist.known_failures(Path(__file__).with_name("known_failures.txt"))


def _marks(key):
    marks = []
    if key in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[key]))
    if not EXAMPLES[key][2] and not ALL:
        marks.append(pytest.mark.skip(reason="not in the default subset; PYNN_EXAMPLES_ALL=1 runs it"))
    return marks


def _environment():
    """The test process's environment, with a non-interactive matplotlib and the
    pynn_brainpy this process would import first on the path."""
    env = dict(os.environ, MPLBACKEND="Agg", PYNEST_QUIET="1")
    spec = importlib.util.find_spec("pynn_brainpy")
    if spec is not None and spec.origin:
        here = str(Path(spec.origin).parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            [here] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def _tail(text, n=4000):
    text = text or ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text if len(text) <= n else "...\n" + text[-n:]


@pytest.mark.parametrize("key", [pytest.param(k, id=k, marks=_marks(k)) for k in EXAMPLES])
def test_example(key, tmp_path):
    if ROOT is None:
        pynn_sdist.unavailable(UNAVAILABLE)
    script, arguments, _, requires = EXAMPLES[key]
    for module in requires:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{script} needs the `{module}` package")
    path = ROOT / FOLDER / script
    command = [sys.executable, str(path), SIMULATOR, *arguments]
    try:
        proc = subprocess.run(command, cwd=tmp_path, env=_environment(), capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"`{' '.join(command[1:])}` ran past {TIMEOUT:.0f} s "
                    f"(PYNN_EXAMPLES_TIMEOUT)\n--- stdout ---\n{_tail(err.stdout)}"
                    f"\n--- stderr ---\n{_tail(err.stderr)}", pytrace=False)
    if proc.returncode != 0:
        hint = ""
        if "No module named 'pyNN.brainpy'" in proc.stderr:
            hint = ("\n`import pyNN.brainpy` failed: the pynn_brainpy_alias.pth import hook is "
                    "not installed (pip install -e .; see docs/pynn_examples.md)")
        pytest.fail(f"`python {script} {SIMULATOR} {' '.join(arguments)}` exited with status "
                    f"{proc.returncode}{hint}\n--- stdout ---\n{_tail(proc.stdout, 1500)}"
                    f"\n--- stderr ---\n{_tail(proc.stderr)}", pytrace=False)


def test_inventory():
    """Every script in the sdist's examples/ is either run here or listed as not applicable,
    and known_failures.txt names only tests that exist."""
    if ROOT is None:
        pynn_sdist.unavailable(UNAVAILABLE)
    found = {p.name for p in (ROOT / FOLDER).glob("*.py")}
    covered = {script for script, *_ in EXAMPLES.values()}
    assert not covered & set(NOT_APPLICABLE)
    assert found == covered | set(NOT_APPLICABLE), (
        f"new examples: {sorted(found - covered - set(NOT_APPLICABLE))}; "
        f"gone: {sorted((covered | set(NOT_APPLICABLE)) - found)}")
    assert set(KNOWN_FAILURES) <= set(EXAMPLES), sorted(set(KNOWN_FAILURES) - set(EXAMPLES))
