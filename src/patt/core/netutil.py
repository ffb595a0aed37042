"""Request helpers about where a request comes from and where it may go: the client IP behind
trusted proxies (20 §8) and safe local redirect targets for `next` (20 §6)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from fastapi import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_KEY_LENGTH = 64
MAX_NEXT_LENGTH = 2000


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for entry in trusted:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a typo in TRUSTED_PROXIES trusts nothing rather than crashing
    return tuple(networks)


def is_trusted_proxy(host: str, trusted: list[str] | tuple[str, ...]) -> bool:
    """True when `host` is an IP inside one of the TRUSTED_PROXIES addresses or networks."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(trusted)))


def client_ip(request: Request) -> str:
    """The client's IP: the direct peer, or — when the peer is a trusted proxy — the nearest
    `X-Forwarded-For` hop that is not itself a trusted proxy."""
    peer = request.client.host if request.client else ""
    trusted = request.app.state.settings.trusted_proxy_list
    if not peer or not is_trusted_proxy(peer, trusted):
        return peer[:MAX_KEY_LENGTH] or "unknown"
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):  # proxies append: the rightmost untrusted hop is the real client
        if not is_trusted_proxy(hop, trusted):
            return hop[:MAX_KEY_LENGTH]
    return (hops[0] if hops else peer)[:MAX_KEY_LENGTH]


def safe_next_path(raw: str | None, default: str = "/") -> str:
    """`raw` when it is a local path (single leading `/`, no `//`, backslash, scheme, host or
    control characters); otherwise `default`."""
    if not raw or len(raw) > MAX_NEXT_LENGTH:
        return default
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):  # browsers drop tabs/newlines
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc:
        return default
    return raw
