"""The pieces shared by the models' native quiet steps."""

import numpy as np
import pytest

from pynn_brainpy.engine import native_loop

_EPS_ABS = 1e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_largest_quiet_error_decides_as_the_division(dtype):
    t = np.dtype(dtype).type
    e = t(native_loop.largest_quiet_error(_EPS_ABS, dtype))
    eps = t(_EPS_ABS)
    assert e / eps < t(0.5)
    assert not np.nextafter(e, t(1)) / eps < t(0.5)
