import pytest

from pynn_brainpy.engine.timing import ms_to_steps_ceil, ms_to_steps_round, tics_per_step


@pytest.mark.parametrize("t_ref,dt,steps", [
    (2.47, 0.01, 247), (1.11, 0.01, 111), (3.75, 0.1, 38), (3.75, 0.01, 375),
    (0.05, 0.1, 1), (0.0004, 0.1, 0), (0.07, 0.01, 7), (4.19, 0.01, 419)])
def test_refractory_steps_follow_nest_tic_rounding(t_ref, dt, steps):
    assert ms_to_steps_ceil(t_ref, dt) == steps


def test_delay_rounding_and_resolution_check():
    assert ms_to_steps_round(1.0, 0.1) == 10
    assert ms_to_steps_round(0.15, 0.1) == 2
    with pytest.raises(ValueError, match="multiple of the tic"):
        tics_per_step(0.00005)
