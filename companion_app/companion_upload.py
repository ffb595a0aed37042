"""What the companion sends to the website: the upload payload built from an export, and the
HTTP client that posts it and sorts the answer into outcomes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import httpx
from companion_config import COMPANION_VERSION, Config

EXPORT_FIELDS = (
    ("addon_version", "addonVersion"),
    ("guild_name", "guildName"),
    ("export_time", "exportTime"),
    ("can_view_officer_note", "canViewOfficerNote"),
)
CHARACTER_FIELDS = (
    ("name", "name"),
    ("realm", "realm"),
    ("class", "class"),
    ("class_file", "classFile"),
    ("level", "level"),
    ("rank", "rank"),
    ("rank_name", "rankName"),
    ("guild_note", "note"),
    ("officer_note", "officerNote"),
    ("is_online", "isOnline"),
    ("last_online", "lastOnline"),
    ("zone", "zone"),
)


def export_time_of(export: Mapping[str, Any]) -> int | None:
    """lastExport.exportTime as whole Unix seconds, or None when absent or not a number."""
    value = export.get("exportTime")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


def characters_of(export: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The export's character records (an empty Lua table reads as {}, not [])."""
    characters = export.get("characters")
    if isinstance(characters, dict):
        characters = list(characters.values())
    if not isinstance(characters, list):
        return []
    return [record for record in characters if isinstance(record, dict)]


def build_payload(export: Mapping[str, Any]) -> dict[str, Any]:
    """The upload body (80-guild-sync §6.2) for one lastExport table. Missing values are left
    out rather than sent as null, so the server applies its own defaults."""
    payload: dict[str, Any] = {"uploaded_by": "companion_app"}
    for api_name, addon_name in EXPORT_FIELDS:
        if export.get(addon_name) is not None:
            payload[api_name] = export[addon_name]
    export_time = export_time_of(export)
    if export_time is not None:
        payload["export_time"] = export_time
    payload["characters"] = [
        {
            api_name: record[addon_name]
            for api_name, addon_name in CHARACTER_FIELDS
            if record.get(addon_name) is not None
        }
        for record in characters_of(export)
    ]
    return payload


class UploadOutcome(Enum):
    ACCEPTED = "accepted"  # 2xx
    KEY_REJECTED = "key_rejected"  # 401, 403: wait for a file change or a restart
    REJECTED = "rejected"  # 400, 413, 422: this export will never be accepted
    FAILED = "failed"  # an unexpected answer, e.g. 404 from a wrong PATT_API_URL
    RETRY = "retry"  # 408, 429, 5xx, timeout, no connection


@dataclass(frozen=True)
class UploadResult:
    outcome: UploadOutcome
    status: int | None = None
    detail: str = ""
    counts: Mapping[str, Any] | None = None


class Uploader(Protocol):
    def upload(self, payload: dict[str, Any]) -> UploadResult: ...


def _server_message(response: httpx.Response) -> str:
    """The error text of a response, short and on one line."""
    text = ""
    with suppress(ValueError):
        body = response.json()
        if isinstance(body, dict):
            for key in ("error", "detail", "message"):
                if isinstance(body.get(key), str):
                    text = body[key]
                    break
    if not text:
        text = response.text
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


def classify_response(response: httpx.Response) -> UploadResult:
    status = response.status_code
    if 200 <= status < 300:
        counts: Mapping[str, Any] = {}
        with suppress(ValueError):
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("data"), dict):
                counts = body["data"]
        return UploadResult(UploadOutcome.ACCEPTED, status, counts=counts)
    message = _server_message(response)
    if status in (401, 403):
        return UploadResult(UploadOutcome.KEY_REJECTED, status, message)
    if status in (400, 413, 422):
        return UploadResult(UploadOutcome.REJECTED, status, message)
    if status in (408, 429) or status >= 500:
        return UploadResult(UploadOutcome.RETRY, status, message)
    return UploadResult(UploadOutcome.FAILED, status, message)


class HttpUploader:
    """Talks to the website's addon-upload endpoints with the API key."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        self.upload_url = f"{config.api_url}/guild-sync/addon-upload"
        self.status_url = f"{config.api_url}/guild-sync/addon-upload/status"
        self._client = httpx.Client(
            headers={
                "X-API-Key": config.api_key,
                "User-Agent": f"PATTSync-Companion/{COMPANION_VERSION}",
            },
            timeout=config.upload_timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def upload(self, payload: dict[str, Any]) -> UploadResult:
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except ValueError:
            return UploadResult(UploadOutcome.REJECTED, None, "the export holds invalid numbers")
        try:
            response = self._client.post(
                self.upload_url, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TimeoutException:
            return UploadResult(UploadOutcome.RETRY, None, "the server did not answer in time")
        except httpx.HTTPError as error:
            return UploadResult(UploadOutcome.RETRY, None, f"cannot connect ({error})")
        return classify_response(response)

    def fetch_status(self) -> tuple[int | None, Any]:
        """(HTTP status, `data` of the status endpoint or an error text); status None when
        the server cannot be reached."""
        try:
            response = self._client.get(self.status_url)
        except httpx.HTTPError as error:
            return None, f"cannot connect ({error})"
        if response.status_code == 200:
            with suppress(ValueError):
                body = response.json()
                if isinstance(body, dict):
                    return 200, body.get("data")
        return response.status_code, _server_message(response)
