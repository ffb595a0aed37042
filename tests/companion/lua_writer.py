"""Test helper: writes Python data as Lua SavedVariables text in varied but valid styles
(game style, hand-written style, comments, escapes, long brackets), so round-trip tests cover
more than one way of spelling the same data."""

from __future__ import annotations

import random
import re
from typing import Any

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LUA_KEYWORDS = frozenset(
    "and break do else elseif end false for function if in local nil not or repeat return "
    "then true until while".split()
)
NAMED_ESCAPES = {
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\v": "\\v",
}


class LuaWriter:
    """Writes one value; `rng` picks the style of each piece."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def space(self) -> str:
        return self.rng.choice(["", " ", "\t", "\n\t", "\r\n", " --[[ note ]] ", " -- c\n"])

    def string(self, text: str) -> str:
        choice = self.rng.randrange(4)
        data = text.encode("utf-8")
        if choice < 2 and "\r" not in text and not text.startswith("\n"):
            # A long bracket works when its closing mark first appears right after the text.
            level = "=" * (choice * self.rng.randrange(1, 4))
            close = f"]{level}]"
            if (text + close).find(close) == len(text):
                return f"[{level}[" + text + close
        if choice == 2:
            # Every byte as \ddd: UTF-8 must be reassembled from bytes before decoding.
            return '"' + "".join(f"\\{byte}" for byte in data) + '"'
        quote = self.rng.choice(['"', "'"])
        out = []
        for char in text:
            if char in NAMED_ESCAPES:
                out.append(NAMED_ESCAPES[char])
            elif char == "\\" or char == quote:
                out.append("\\" + char)
            elif ord(char) < 32 or ord(char) == 127:
                out.append(f"\\{ord(char):03d}")
            else:
                out.append(char)
        return quote + "".join(out) + quote

    def number(self, value: int | float) -> str:
        if isinstance(value, int) and value >= 0 and self.rng.random() < 0.2:
            return hex(value)
        return repr(value)

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            if IDENTIFIER.fullmatch(key) and key not in LUA_KEYWORDS and self.rng.random() < 0.5:
                return key
            # spaces keep "[" + "[[text]]" from reading as one long bracket
            return "[ " + self.string(key) + " ]"
        return "[" + self.number(key) + "]"

    def value(self, value: Any) -> str:
        if value is True or value is False:
            return "true" if value else "false"
        if isinstance(value, int | float):
            return self.number(value)
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, list):
            return self.table([(None, item) for item in value])
        if isinstance(value, dict):
            return self.table(list(value.items()))
        raise TypeError(f"cannot write {type(value).__name__}")

    def table(self, fields: list[tuple[Any, Any]]) -> str:
        game_style = self.rng.random() < 0.5
        # Positional fields are numbered on their own, so a list is written either all
        # positional or all with explicit [i] keys.
        explicit_indexes = not game_style and self.rng.random() < 0.3
        parts = ["{"]
        for index, (key, item) in enumerate(fields, start=1):
            parts.append(self.space())
            if key is not None:
                parts.append(self.key(key) + self.space() + "=" + self.space())
            elif explicit_indexes:
                parts.append(f"[{index}] = ")
            parts.append(self.value(item))
            last = index == len(fields)
            if not last or self.rng.random() < 0.7:
                parts.append(self.rng.choice([",", ";"]))
            if game_style and key is None:
                parts.append(f" -- [{index}]\n")
        parts.append(self.space() + "}")
        return "".join(parts)

    def file(self, variables: dict[str, Any]) -> str:
        return "".join(
            f"{self.space()}{name}{self.space()}={self.space()}{self.value(value)}\n"
            for name, value in variables.items()
        )


def expected_after_parse(value: Any) -> Any:
    """What the parser returns for `value`: empty lists read back as {}, dicts keyed exactly
    1…n read back as lists."""
    if isinstance(value, list):
        return [expected_after_parse(item) for item in value] if value else {}
    if isinstance(value, dict):
        items = {key: expected_after_parse(item) for key, item in value.items()}
        count = len(items)
        if count and all(type(k) is int and 1 <= k <= count for k in items):
            return [items[index] for index in range(1, count + 1)]
        return items
    return value
