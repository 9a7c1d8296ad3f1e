"""``python -m pynn_brainpy.precompile``: the native code every CPU network uses, compiled
into numba's cache ahead of the first simulation."""

import os
import subprocess
import sys

import pytest

from pynn_brainpy.engine import native


def _precompile(cache):
    done = subprocess.run([sys.executable, "-m", "pynn_brainpy.precompile"],
                          env=dict(os.environ, NUMBA_CACHE_DIR=str(cache)),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _cached(cache):
    """numba's cache files under ``cache``: {name: modification time}."""
    return {os.path.join(root, name): os.stat(os.path.join(root, name)).st_mtime_ns
            for root, _, names in os.walk(cache) for name in names}


@pytest.mark.skipif(native.api_version() is None, reason="no XLA FFI C API header")
def test_precompile_fills_numbas_cache_and_a_second_run_only_loads(tmp_path):
    assert "native code compiled or loaded" in _precompile(tmp_path)
    files = _cached(tmp_path)
    for name in ("handler_f32_ffi_api", "handler_f64_ffi_api", "join_handler_ffi_api",
                 "_ring_handler_ffi_api", "_serve", "order_by_row_then_key",
                 "nonzero_bytes"):
        assert any(name in path and path.endswith(".nbi") for path in files), name
    _precompile(tmp_path)
    assert _cached(tmp_path) == files          # nothing compiled, nothing rewritten
