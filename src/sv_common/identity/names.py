"""Name rules shared by every writer: Discord usernames and character names."""

from __future__ import annotations

import re
import unicodedata

from sv_common.identity import realms

_CURRENT_USERNAME = re.compile(r"[A-Za-z0-9_.]{2,32}")
_LEGACY_USERNAME = re.compile(r"[^#@\x00-\x1f\x7f]{2,32}#[0-9]{4}")


def normalise_discord_name(value: str) -> str | None:
    """Stored form of a Discord username (60 §9.3), or None when it is not one.

    Current style: 2–32 of `a-z 0-9 _ .` (stored lower-case). Old style `name#1234` (stored as
    typed). A leading `@` is dropped; surrounding spaces are trimmed.
    """
    text_value = value.strip()
    if text_value.startswith("@"):
        text_value = text_value[1:].strip()
    if _CURRENT_USERNAME.fullmatch(text_value):
        return text_value.lower()
    if _LEGACY_USERNAME.fullmatch(text_value) and text_value == text_value.strip():
        return text_value
    return None


def normalise_character_name(value: str) -> str | None:
    """NFC, 2–12 letters, first letter upper-case and the rest lower-case; None when invalid."""
    name = unicodedata.normalize("NFC", value.strip())
    if not realms.is_valid_character_name(name, max_length=realms.WOW_CHARACTER_NAME_MAX_LENGTH):
        return None
    return name[:1].upper() + name[1:].lower()
