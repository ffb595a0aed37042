"""Name normalisation used by every identity comparison: `norm`, `key` and `tokens` (pure).

Comparisons always use `key`; the stored original is what people see.
"""

from __future__ import annotations

import unicodedata

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
