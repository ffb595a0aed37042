"""The `patt` console script: a thin command per module, each calling the same services as
the web app.

Exit codes: 0 success, 1 user error (message on stderr, no traceback), 2 bad usage; the sync
commands add 3 already running, 4 not configured, 5 partial. Every command reads the same
settings; with no DATABASE_URL it starts the embedded database, and the last command using it
stops it on the way out (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from pydantic import ValidationError

from patt.cli import (
    accounts,
    backup,
    campaign,
    database,
    demo,
    doctor,
    serve,
    sheets,
    sync,
)
from patt.cli.common import NotConfigured, UserError, release_embedded
from patt.config import ConfigError, Settings, describe_settings_error, get_settings
from sv_common.errors import DomainError

# Order of the commands in `patt --help`.
COMMANDS = (serve, database, backup, doctor, accounts, demo, sync, sheets, campaign)

__all__ = ["NotConfigured", "UserError", "build_parser", "main"]


class Parser(argparse.ArgumentParser):
    """argparse without abbreviated options: `--force` must never stand for the destructive
    `--force-removals`. Sub-command parsers are made of the same class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every command has --help)."""
    parser = Parser(
        prog="patt",
        description="PATT guild platform: run the site and manage its database. With no "
        "DATABASE_URL every command uses (and starts) the embedded PostgreSQL in PATT_DATA_DIR; "
        "it stops when the last patt process using it exits. Operating a server: "
        "docs/OPERATIONS.md.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `patt` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:  # a command group without its action: that group's help
        getattr(args, "help_parser", parser).print_help()
        return 2
    # Signal handlers can only be set from the main thread (tests and tools may call main()
    # from another thread; there the process's own handling stays as it is).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        if getattr(args, "reads_settings_itself", False):  # `doctor` reports bad settings
            return int(handler(args, None) or 0)
        return int(handler(args, _load_settings()) or 0)
    except (UserError, ConfigError, DomainError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, UserError) else 1
    except KeyboardInterrupt:
        return 1
    finally:
        # Ctrl-C and SIGTERM end here too: the embedded database stops with its last user.
        release_embedded()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (systemd stop, kill) unwinds like Ctrl-C, so cleanup code runs."""
    raise SystemExit(128 + signum)


def _load_settings() -> Settings:
    """The settings, or a plain-words error naming the bad variable."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise ConfigError(describe_settings_error(exc)) from None


if __name__ == "__main__":
    sys.exit(main())
