"""Performance tests: marked `perf` (deselect with `-m "not perf"`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "perf: performance test with generous time bounds")
