import pytest

# PyNN's scenario modules use bare `assert`; have pytest rewrite them so a
# failure shows the compared values. (Must happen before they are imported.)
pytest.register_assert_rewrite("pynn_system_scenarios")
