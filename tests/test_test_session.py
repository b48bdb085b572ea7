"""The test session itself: it never writes into the developer's real folders."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from allma_desktop.config import default_config_dir, default_data_dir, default_log_dir
from tests.conftest import TEST_HOME


def test_the_session_has_a_home_and_xdg_folders_of_its_own() -> None:
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir)

    assert Path.home() == TEST_HOME != real_home
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        assert TEST_HOME in Path(os.environ[variable]).parents


def test_the_apps_default_folders_fall_inside_the_sessions_home() -> None:
    for folder in (default_config_dir(), default_data_dir(), default_log_dir()):
        assert TEST_HOME in folder.parents
