"""`patt create-admin`: create the Guild Leader account, or reset its password."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from patt.cli.common import UserError, prepared_database, run_async
from patt.config import Settings


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise UserError("No password on standard input.")
        return password
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Repeat password: ")
    if first != second:
        raise UserError("Passwords do not match.")
    return first


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Prompt for what is missing, then create (or reset) the account."""
    from sv_common.identity import accounts

    username = args.discord_username or input("Discord username: ").strip()
    if not username:
        raise UserError("A Discord username is required.")
    display_name = args.display_name or (
        None if args.discord_username else input("Display name [same]: ").strip() or None
    )
    password = _read_password(args)
    url = prepared_database(settings)

    async def work(session: Any) -> Any:
        return await accounts.create_guild_leader(
            session,
            discord_username=username,
            password=password,
            display_name=display_name,
            reset_password=args.reset_password,
        )

    member = run_async(url, work)
    verb = "Password reset for" if args.reset_password else "Created Guild Leader"
    print(f"{verb} {member.display_name} (@{member.discord_username}).")
    print(f"Log in at {settings.base_url}/login")
    return 0


def register(sub: Any) -> None:
    """Add `create-admin` to the parser."""
    admin = sub.add_parser(
        "create-admin",
        help="create (or reset) the Guild Leader account",
        description="Create the Guild Leader account, or reset its password. "
        "Prompts for missing values.",
    )
    admin.add_argument("--discord-username", help="login name (the member's Discord username)")
    admin.add_argument("--display-name", help="name shown on the site (default: the username)")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.add_argument(
        "--reset-password",
        action="store_true",
        help="replace the password of an existing account and reactivate it",
    )
    admin.set_defaults(handler=cmd_create_admin)
