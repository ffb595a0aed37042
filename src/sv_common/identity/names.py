"""Name rules shared by every writer and every identity comparison.

- `norm`, `key`, `tokens`: accent-free, case-folded comparison forms (pure). Comparisons always
  use `key`; the stored original is what people see.
- `normalise_discord_name`, `normalise_character_name`: the stored form of a Discord username
  or a character name typed by a person (sign-up form, sheet import), or None when invalid.
"""

from __future__ import annotations

import re
import unicodedata

from sv_common.identity import realms

# Letters that Unicode does not decompose into a base letter plus a mark, so NFKD alone would
# keep them; players type the plain spelling, so they are spelled out here (both cases).
_SPELLED_OUT = {
    "ß": "ss",
    "ẞ": "ss",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ø": "o",
    "Ø": "o",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ł": "l",
    "Ł": "l",
    "ı": "i",
}
_TRANSLATION = str.maketrans(_SPELLED_OUT)
MIN_TOKEN_LENGTH = 3


def norm(text: str | None) -> str:
    """Accent-free, case-folded text with trimmed and collapsed whitespace (None → "")."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = plain.translate(_TRANSLATION).casefold()
    return " ".join(folded.split())


def key(text: str | None) -> str:
    """The comparison key: `norm` keeping letters and digits only ("Stone.Hoof_" → "stonehoof")."""
    return "".join(ch for ch in norm(text) if ch.isalnum())


def tokens(text: str | None) -> list[str]:
    """Words of at least three letters or digits that differ from the whole key, in order.

    "Stonehoof (Aldrameth)" → ["stonehoof", "aldrameth"]; a single word gives no tokens, because
    it is already covered by the whole-name comparison.
    """
    normalised = norm(text)
    whole = "".join(ch for ch in normalised if ch.isalnum())
    found: list[str] = []
    current: list[str] = []
    for ch in [*normalised, " "]:  # the trailing space closes the last word
        if ch.isalnum():
            current.append(ch)
            continue
        if current:
            word = "".join(current)
            if len(word) >= MIN_TOKEN_LENGTH and word != whole and word not in found:
                found.append(word)
            current = []
    return found


# ------------------------------------------------------------------ invisible characters
# Unicode categories a person's name never needs: control characters (Cc), format characters —
# zero-width spaces and joiners, bidirectional overrides, the byte-order mark (Cf) — line and
# paragraph separators (Zl, Zp), private-use, surrogate and unassigned code points (Co, Cs,
# Cn). They make two names look the same or reorder text on screen, so they are refused.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
INVISIBLE_MESSAGE = "must not contain control, invisible or text-direction characters"


def invisible_character(text: str) -> str | None:
    """The first refused character as `U+XXXX`, or None when the text has none."""
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


# ------------------------------------------------------------- stored forms of typed names

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
    if (
        _LEGACY_USERNAME.fullmatch(text_value)
        and text_value == text_value.strip()
        and invisible_character(text_value) is None
    ):
        return text_value
    return None


def normalise_character_name(value: str) -> str | None:
    """NFC, 2–12 letters, first letter upper-case and the rest lower-case; None when invalid."""
    name = unicodedata.normalize("NFC", value.strip())
    if not realms.is_valid_character_name(name, max_length=realms.WOW_CHARACTER_NAME_MAX_LENGTH):
        return None
    return name[:1].upper() + name[1:].lower()
