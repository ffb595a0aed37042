"""`patt doctor`: check configuration, database, Discord, Blizzard, clock and disk."""

from __future__ import annotations

import argparse
from typing import Any

from patt.cli.common import database_url
from patt.config import Settings


def cmd_doctor(args: argparse.Namespace, settings: Settings | None) -> int:
    """Print one line per finding with its fix; exit 1 when something is wrong."""
    from patt.ops import doctor

    findings = doctor.run(database_url=database_url, settings=settings)
    for line in doctor.as_lines(findings):
        print(line)
    closing, code = doctor.summary(findings)
    print(closing)
    return code


def register(sub: Any) -> None:
    """Add `doctor` to the parser."""
    parser = sub.add_parser(
        "doctor",
        help="check this installation and say what to fix",
        description="Check the configuration (production safety rules included), that the "
        "database answers and its migrations are current, the Discord bot token, intent and "
        "server, the Blizzard credentials and guild, the clock and the disk. Discord and "
        "Blizzard are called for real when configured, otherwise reported as not configured. "
        "Exit code 1 when anything must be fixed.",
    )
    parser.set_defaults(handler=cmd_doctor, reads_settings_itself=True)
