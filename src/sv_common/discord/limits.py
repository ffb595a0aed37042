"""Discord's message and embed limits (70 §8.4), checked before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence

from sv_common.discord.interface import Embed

MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_EMBEDS_PER_MESSAGE = 10
MAX_EMBED_CHARS_PER_MESSAGE = 6000
MAX_CONTENT = 2000


def embed_size(embed: Embed) -> int:
    """Characters Discord counts toward the 6,000 limit (title, description, fields, footer)."""
    total = len(embed.title) + len(embed.description) + len(embed.footer or "")
    for item in embed.fields:
        total += len(item.name) + len(item.value)
    return total


def embed_problems(embed: Embed) -> list[str]:
    """Every limit one embed breaks (empty when it is valid)."""
    problems: list[str] = []
    if len(embed.title) > MAX_TITLE:
        problems.append(f"embed title longer than {MAX_TITLE} characters")
    if len(embed.description) > MAX_DESCRIPTION:
        problems.append(f"embed description longer than {MAX_DESCRIPTION} characters")
    if len(embed.fields) > MAX_FIELDS:
        problems.append(f"more than {MAX_FIELDS} embed fields")
    for item in embed.fields:
        if len(item.name) > MAX_FIELD_NAME or len(item.value) > MAX_FIELD_VALUE:
            problems.append("embed field name or value too long")
            break
    if embed.footer is not None and len(embed.footer) > MAX_FOOTER:
        problems.append(f"embed footer longer than {MAX_FOOTER} characters")
    return problems


def check_message(content: str | None, embeds: Sequence[Embed]) -> None:
    """Raise ValueError naming the first broken limit of one message."""
    if content is not None and len(content) > MAX_CONTENT:
        raise ValueError(f"message content longer than {MAX_CONTENT} characters")
    if len(embeds) > MAX_EMBEDS_PER_MESSAGE:
        raise ValueError(f"more than {MAX_EMBEDS_PER_MESSAGE} embeds in one message")
    for embed in embeds:
        problems = embed_problems(embed)
        if problems:
            raise ValueError(problems[0])
    if sum(embed_size(e) for e in embeds) > MAX_EMBED_CHARS_PER_MESSAGE:
        raise ValueError(
            f"embeds of one message exceed {MAX_EMBED_CHARS_PER_MESSAGE} characters in total"
        )
    if not content and not embeds:
        raise ValueError("a message needs content or at least one embed")


def check_dm(content: str) -> None:
    """Raise ValueError when a direct message's text breaks the content limit."""
    if len(content) > MAX_CONTENT:
        raise ValueError(f"message content longer than {MAX_CONTENT} characters")
