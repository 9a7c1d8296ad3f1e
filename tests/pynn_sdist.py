"""The PyNN 0.13.0 sdist, fetched at test time: shared by tests/pynn_suite and tests/pynn_examples.

Nothing of PyNN is copied into this repository. The sdist is fetched from PyPI with
``pip download`` on first use, checked against a pinned SHA-256 and cached; the parts a
test needs (``test/system/scenarios``, ``examples``) are extracted unmodified beside it.

Environment:
  PYNN_SDIST            path to a local pynn-0.13.0.tar.gz (offline use)
  PYNN_BRAINPY_CACHE    cache directory (default ~/.cache/pynn_brainpy)
  PYNN_SUITE_REQUIRED=1 fail, rather than skip, when the sdist cannot be had (CI)
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

PYNN_VERSION = "0.13.0"
SDIST_NAME = f"pynn-{PYNN_VERSION}.tar.gz"
SDIST_SHA256 = "da2821e45055a88de6cf34896067eaaebcabbfdfb7883dd147353e7b78617815"
TOP = f"pynn-{PYNN_VERSION}/"  # every member of the sdist lies under this folder


def cache_dir():
    root = os.environ.get("PYNN_BRAINPY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pynn_brainpy")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sdist():
    """Path of the verified sdist, downloading it with pip if needed."""
    local = os.environ.get("PYNN_SDIST")
    if local:
        path = Path(local)
        if sha256(path) != SDIST_SHA256:
            raise RuntimeError(f"PYNN_SDIST={local} is not the PyNN {PYNN_VERSION} sdist (SHA-256)")
        return path
    cache = cache_dir()
    path = cache / SDIST_NAME
    if path.exists() and sha256(path) == SDIST_SHA256:
        return path
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "--retries", "2", "--timeout", "30", "-q",
             "-d", tmp, f"PyNN=={PYNN_VERSION}"],
            capture_output=True, text=True, timeout=600)
        got = Path(tmp) / SDIST_NAME
        if proc.returncode != 0 or not got.exists():
            raise RuntimeError(f"`pip download PyNN=={PYNN_VERSION}` failed:\n{proc.stderr[-2000:]}")
        if sha256(got) != SDIST_SHA256:
            raise RuntimeError(f"downloaded {SDIST_NAME} does not match the pinned SHA-256")
        os.replace(got, path)  # atomic: concurrent sessions see a whole file or none
    return path


def extract(subdir, folder, marker, tag):
    """Extract the sdist's ``<subdir>/`` (its files, unmodified) as ``<root>/<folder>``; return <root>.

    ``<root>`` is ``<cache>/pynn-0.13.0-<sha>-<tag>``, made once and then reused; ``marker``
    is a file that must be in ``<subdir>`` (its presence marks a complete extraction).
    """
    archive = sdist()  # verified on every use, as the cached extraction is not
    prefix = TOP + subdir.strip("/") + "/"
    root = cache_dir() / f"pynn-{PYNN_VERSION}-{SDIST_SHA256[:12]}-{tag}"
    if (root / folder / marker).exists():
        return root
    tmp = Path(tempfile.mkdtemp(dir=cache_dir()))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(prefix) and m.isfile()]
            for m in members:
                m.name = folder + "/" + m.name[len(prefix):]
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # py >= 3.11.4
            tar.extractall(tmp, members=members, **safe)
        try:
            os.rename(tmp, root)  # atomic: concurrent sessions see a whole tree or none
        except OSError:  # another session got there first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (root / folder / marker).exists():
        raise RuntimeError(f"{SDIST_NAME} has no {prefix}{marker}")
    return root


def unavailable(message):
    """Skip (or, with PYNN_SUITE_REQUIRED=1, fail) a test that needs the sdist."""
    if os.environ.get("PYNN_SUITE_REQUIRED"):
        pytest.fail(message)
    pytest.skip(message)


def known_failures(path):
    """``{id: reason}`` from a known_failures.txt: one id per line, the reason after ``#``.

    Listed tests run as strict xfails: one that starts to pass fails the suite until its
    line is removed, so the list can only shrink honestly.
    """
    return {line.split("#")[0].strip(): line.partition("#")[2].strip()
            for line in Path(path).read_text().splitlines()
            if line.split("#")[0].strip()}
