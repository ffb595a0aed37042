"""`patt demo`: load the demo guild into the configured database."""

from __future__ import annotations

import argparse
from typing import Any

from patt.cli.common import prepared_database
from patt.config import Settings


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo guild (idempotent) and print its accounts."""
    from patt.demo import loader as demo

    url = prepared_database(settings)
    print(demo.load_demo(url, settings))
    return 0


def register(sub: Any) -> None:
    """Add `demo` to the parser."""
    demo = sub.add_parser(
        "demo",
        help="load the demo guild (idempotent)",
        description="Load the demo guild: members of every rank, characters, availability, "
        "quotes, campaigns and one account per rank (passwords printed). Refuses to run "
        "on a database holding non-demo data.",
    )
    demo.set_defaults(handler=cmd_demo)
