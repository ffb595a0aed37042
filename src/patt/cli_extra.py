"""Feature commands of `patt` (import-sheets, sync …): each feature adds its parser here."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add feature subcommands to the `patt` parser (handlers take (args, settings) → exit code)."""
    _ = argparse  # features import what they need inside their handlers
