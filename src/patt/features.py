"""Where each feature plugs into the app: routers, page routes and lifespan hooks.

One `install_*` call per feature keeps `app.py` free of feature knowledge; the order of
startup hooks is the order of the calls below.
"""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register every feature's routers and hooks."""
    from patt.api import health
    from patt.services import startup

    startup.install(app)
    app.include_router(health.router)
