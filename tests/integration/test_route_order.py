"""Routers are included with the most visited paths first, for speed (see `patt.features`).
That is only safe while no request could be answered by routes of two different routers: then
the order of the routers never changes which route answers. Within one router the order is the
author's and is left alone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def _leaves(routes: list[Any], prefix: str, owner: str) -> Iterator[tuple[str, str, set[str]]]:
    """(router, full path, methods) of every HTTP route, whether FastAPI keeps included routers
    as branches (newer releases) or copies their routes into the app (older ones)."""
    for route in routes:
        branch = getattr(route, "original_router", None)
        if branch is not None:
            context = getattr(route, "include_context", None)
            extra = getattr(context, "prefix", "") or ""
            yield from _leaves(branch.routes, prefix + extra, owner or f"router {id(branch)}")
            continue
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if path is None or not methods:
            continue  # mounts (static files) and websockets
        name = owner or f"{getattr(route, 'endpoint', route).__module__}"
        yield name, prefix + path, set(methods)


def _pattern(path: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in PARAM.finditer(path):
        parts.append(re.escape(path[last : match.start()]))
        parts.append(".*" if match.group(2) == "path" else "[^/]+")
        last = match.end()
    parts.append(re.escape(path[last:]))
    return re.compile("".join(parts) + "$")


def _sample(path: str) -> str:
    return PARAM.sub("1", path)


async def test_no_request_can_be_answered_by_routes_of_two_routers(
    app: Any, client: httpx.AsyncClient
) -> None:
    routes = list(_leaves(list(app.routes), "", ""))
    assert len(routes) > 100  # the walk really found the app's routes
    clashes = []
    for owner, path, methods in routes:
        sample = _sample(path)
        for other_owner, other_path, other_methods in routes:
            if other_owner == owner or not methods & other_methods:
                continue
            if _pattern(other_path).match(sample):
                clashes.append(f"{sorted(methods)} {path} also matches {other_path}")
    assert clashes == []


async def test_the_hot_paths_are_answered_by_their_own_routes(client: httpx.AsyncClient) -> None:
    """The routers moved to the front still answer what they answered before."""
    assert (await client.get("/api/health")).status_code == 200
    landing = await client.get("/")
    assert landing.status_code == 200 and "Pull All The Things" in landing.text
    assert (await client.get("/api/v1/campaigns")).json() == {"ok": True, "data": []}
    assert (await client.get("/vote/424242")).status_code == 404
    assert (await client.get("/api/v1/guild/ranks")).status_code == 200
