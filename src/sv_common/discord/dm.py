"""Texts of Discord direct messages: the registration invite (70 §7.2) and DM outcomes (70 §7.3)."""

from __future__ import annotations

from datetime import datetime

from sv_common.discord.interface import DMStatus
from sv_common.discord.limits import MAX_CONTENT

_MARKDOWN = str.maketrans({ch: "\\" + ch for ch in "\\*_~`|>"})

OUTCOME_MESSAGES: dict[DMStatus, str] = {
    DMStatus.SENT: "Delivered.",
    DMStatus.DMS_CLOSED: "The user blocks DMs from server members (or blocked the bot).",
    DMStatus.UNKNOWN_USER: "The snowflake does not exist; fix the member's Discord ID.",
    DMStatus.BOT_UNAVAILABLE: "Discord is disabled or not connected.",
    DMStatus.FAILED: "Other error (logged).",
}


def escape_markdown(text: str) -> str:
    """Text with Discord Markdown characters escaped so names cannot break formatting."""
    return text.translate(_MARKDOWN)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def invite_dm_text(
    *,
    display_name: str,
    guild_name: str,
    code: str,
    register_url: str,
    expires_at: datetime,
    expires_hours: int,
) -> str:
    """The invite DM: greeting, who invited, code in bold, link, expiry, whom to ask (< 2,000 chars)."""
    epoch = int(expires_at.timestamp())
    hours = "1 hour" if expires_hours == 1 else f"{expires_hours} hours"
    name = escape_markdown(_shorten(" ".join(display_name.split()) or "there", 80))
    guild = escape_markdown(_shorten(" ".join(guild_name.split()), 100))
    text = (
        f"Hi {name}!\n\n"
        f"An officer of {guild} has invited you to the guild website, where you can vote in "
        "guild campaigns and keep your characters up to date.\n\n"
        f"Your registration code: **{code}**\n"
        f"Register here: {register_url}\n\n"
        f"The code expires <t:{epoch}:R> (in {hours}) and works once.\n"
        "Questions, or the code stopped working? Ask any officer for a new one."
    )
    if len(text) >= MAX_CONTENT:  # only an absurdly long URL can get here
        raise ValueError("invite DM would exceed Discord's 2,000-character limit")
    return text


def dm_outcome_message(status: DMStatus | str) -> str:
    """What the officer is told about a DM outcome."""
    try:
        return OUTCOME_MESSAGES[DMStatus(status)]
    except ValueError:
        return OUTCOME_MESSAGES[DMStatus.FAILED]
