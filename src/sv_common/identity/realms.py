"""Realm slugs and keys, guild slugs, armory URLs and name/snowflake checks (80 §2.6).

Pure string functions, no database.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# The `common.characters.name` column is varchar(50). WoW itself allows 2–12 letters; the roster
# form and the sheet import enforce that by passing `max_length=WOW_CHARACTER_NAME_MAX_LENGTH`
# (60 §9.3, §10.4), while other callers (sync, admin) accept anything the column can hold.
CHARACTER_NAME_MIN_LENGTH = 2
CHARACTER_NAME_MAX_LENGTH = 50
WOW_CHARACTER_NAME_MAX_LENGTH = 12

_APOSTROPHES = "'\u2019"
# ASCII digits only: str.isdigit() would also accept Arabic-Indic and other digits.
_SNOWFLAKE = re.compile(r"[0-9]{17,20}")


def _strip_accents(text: str) -> str:
    """Text with accents removed (NFKD, combining marks dropped): Zoë → Zoe."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def realm_slug(name: str) -> str:
    """Realm slug from a display name (Sen'jin → senjin, Area 52 → area-52)."""
    # Lower-case before stripping so letters whose lower case decomposes (İ) lose the mark too.
    text = _strip_accents(name.lower())
    kept: list[str] = []
    for ch in text:
        if ch.isalnum() or ch == "-":
            kept.append(ch)
        elif ch.isspace():
            kept.append("-")
        # Apostrophes and every other punctuation mark are dropped.
    slug = re.sub(r"-{2,}", "-", "".join(kept))
    return slug.strip("-")


def realm_key(text: str) -> str:
    """Realm comparison key: letters and digits only, accents stripped, lower-case."""
    return "".join(ch for ch in _strip_accents(text.lower()) if ch.isalnum())


def split_camel_realm(text: str) -> str:
    """Slug from an addon realm without spaces (AeriePeak → aerie-peak, Area52 → area-52)."""
    parts: list[str] = []
    previous = ""
    for ch in text:
        lower_to_upper = previous.islower() and ch.isupper()
        letter_to_digit = previous.isalpha() and ch.isdigit()
        if lower_to_upper or letter_to_digit:
            parts.append(" ")
        parts.append(ch)
        previous = ch
    return realm_slug("".join(parts))


def guild_slug(name: str) -> str:
    """Guild slug: lower-case, apostrophes removed, spaces → '-' (pull-all-the-things)."""
    text = name.strip().lower()
    for apostrophe in _APOSTROPHES:
        text = text.replace(apostrophe, "")
    return "-".join(text.split())


def armory_url(name: str, realm_slug: str, region: str = "us", locale: str = "en-us") -> str:
    """Blizzard armory profile URL; the name is lower-cased and its UTF-8 bytes percent-encoded."""
    # NFC first so a decomposed "Zoë" encodes the same as the composed spelling Blizzard uses.
    encoded_name = quote(unicodedata.normalize("NFC", name).lower(), safe="")
    encoded_realm = quote(realm_slug, safe="")
    return (
        f"https://worldofwarcraft.blizzard.com/{locale}/character/{region}/"
        f"{encoded_realm}/{encoded_name}"
    )


def is_valid_character_name(name: str, *, max_length: int = CHARACTER_NAME_MAX_LENGTH) -> bool:
    """True when the NFC name is 2–`max_length` Unicode letters (no spaces, digits, punctuation)."""
    normalised = unicodedata.normalize("NFC", name)
    if not CHARACTER_NAME_MIN_LENGTH <= len(normalised) <= max_length:
        return False
    return normalised.isalpha()


def is_snowflake(text: object) -> bool:
    """True for a Discord ID as a decimal string of 17–20 ASCII digits."""
    return isinstance(text, str) and _SNOWFLAKE.fullmatch(text) is not None
