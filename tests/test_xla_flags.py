"""pynn_brainpy's XLA options: asked for at import, never over the user's own choice."""

import os

from pynn_brainpy import _xla_flags


def test_device_loops_added_to_other_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_prefer_vector_width=256")
    _xla_flags.request_device_loops()
    assert os.environ["XLA_FLAGS"].split() == ["--xla_cpu_prefer_vector_width=256",
                                               _xla_flags.DEVICE_LOOPS]
    monkeypatch.delenv("XLA_FLAGS")
    _xla_flags.request_device_loops()
    assert os.environ["XLA_FLAGS"] == _xla_flags.DEVICE_LOOPS


def test_users_command_buffer_choice_is_kept(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_enable_command_buffer=")
    _xla_flags.request_device_loops()
    assert os.environ["XLA_FLAGS"] == "--xla_gpu_enable_command_buffer="
