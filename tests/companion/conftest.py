"""The companion app is a stand-alone program (not part of the platform package): its folder
goes on sys.path so tests import `lua_parser` and `patt_sync_watcher` as the app does."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPANION_DIR = ROOT / "companion_app"
FIXTURES = ROOT / "tests" / "fixtures"

if str(COMPANION_DIR) not in sys.path:
    sys.path.insert(0, str(COMPANION_DIR))
