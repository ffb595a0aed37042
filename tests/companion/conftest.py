"""The companion app is a stand-alone program (not part of the platform package): its folder
goes on sys.path so tests import `lua_parser` and `patt_sync_watcher` as the app does."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.companion.helpers import Companion, FakeWebsite

ROOT = Path(__file__).resolve().parents[2]
COMPANION_DIR = ROOT / "companion_app"
FIXTURES = ROOT / "tests" / "fixtures"

if str(COMPANION_DIR) not in sys.path:
    sys.path.insert(0, str(COMPANION_DIR))


@pytest.fixture(autouse=True)
def _reset_companion_logger() -> Iterator[None]:
    """main() attaches console and file handlers to the "patt_sync" logger; remove them so
    the next test starts clean (and caplog sees records through propagation)."""
    yield
    log = logging.getLogger("patt_sync")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)


@pytest.fixture
def website() -> FakeWebsite:
    # imported here: helpers needs the companion folder on sys.path, set up above
    from tests.companion.helpers import FakeWebsite

    return FakeWebsite()


@pytest.fixture
def companion(tmp_path: Path, website: FakeWebsite) -> Companion:
    """A Watcher on a temp folder with the fake website; not started yet."""
    from tests.companion.helpers import make_config, new_companion

    return new_companion(make_config(tmp_path), website)
