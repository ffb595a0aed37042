"""Reads World of Warcraft SavedVariables files into Python values.

The files are Lua source, but only a data subset is accepted (assignments of nil, booleans,
numbers, strings and tables); anything that would be code is refused, and nothing is ever
executed. One index-based scan over the bytes, no recursion, bounded size and nesting.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "LuaParseError",
    "load_pattsync",
    "parse_saved_variables",
    "pattsync_table",
]

MAX_INPUT_BYTES = 32 * 1024 * 1024  # a 5,000-member export is about 3 MB
MAX_DEPTH = 100  # PATTSyncDB needs 4 levels; the limit only stops hostile input

# Whitespace and line comments in one possessive match (no backtracking); long comments
# ("--[[ … ]]", "--[==[ … ]==]") are left for the caller because they need a matching close.
_SKIP = re.compile(rb"(?:[ \t\r\n\v\f]++|--(?!\[=*\[)[^\r\n]*+)*+")
_LONG_OPEN = re.compile(rb"\[(=*)\[")
# The usual field of a game-written file, `["name"] = `, in one match (a fast path only:
# anything else, comments included, goes through the general rules).
_SIMPLE_FIELD_KEY = re.compile(rb'\["([^"\\\r\n]*+)"\][ \t]*+=(?!=)[ \t\r\n]*+')
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*+")
_NUMBER = re.compile(
    rb"-?(?:0[xX][0-9A-Fa-f]++|(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?)"
)
_NUMBER_TAIL = re.compile(rb"[A-Za-z0-9_.]")
_SIMPLE_STRING = {
    ord('"'): re.compile(rb'"([^"\\\r\n]*+)"'),
    ord("'"): re.compile(rb"'([^'\\\r\n]*+)'"),
}
_STRING_RUN = {
    ord('"'): re.compile(rb'[^"\\\r\n]*+'),
    ord("'"): re.compile(rb"[^'\\\r\n]*+"),
}
_NEWLINES = re.compile(rb"\r\n|\n\r|\r")
_DIGITS = re.compile(rb"[0-9]{1,3}")

_SIMPLE_ESCAPES = {
    ord("n"): b"\n",
    ord("t"): b"\t",
    ord("r"): b"\r",
    ord("a"): b"\a",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("v"): b"\v",
    ord("\\"): b"\\",
    ord('"'): b'"',
    ord("'"): b"'",
}
_KEYWORDS = frozenset(
    "and break do else elseif end false for function if in local nil not or repeat return "
    "then true until while".split()
)
_CODE_CHARACTERS = frozenset(b"().:+-*/%^#<>~")
# After a name these start indexing or a call: X["y"], f"text", f{...}.
_CODE_AFTER_NAME = _CODE_CHARACTERS | frozenset(b"[{\"'")

_LBRACE, _RBRACE = ord("{"), ord("}")
_LBRACKET, _RBRACKET = ord("["), ord("]")
_EQUALS, _COMMA, _SEMICOLON = ord("="), ord(","), ord(";")
_BACKSLASH, _CR, _LF = ord("\\"), ord("\r"), ord("\n")
_NUMBER_START = frozenset(b"0123456789.-")
_MINUS = ord("-")
_NUMBER_AFTER_MINUS = frozenset(bytes((digit,)) for digit in b"0123456789.")
_SKIPPABLE_START = frozenset(b" \t\r\n\v\f-")
_NAME_START = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_BOM = b"\xef\xbb\xbf"
_TRUNCATED = "unexpected end of file (the file looks truncated; was the game closed while saving?)"


class LuaParseError(ValueError):
    """The text is not a SavedVariables file this reader accepts.

    `line` and `column` are 1-based (None when the problem is not at one place) and `excerpt`
    shows a little of the text around the problem.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        excerpt: str = "",
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.excerpt = excerpt
        text = message
        if line is not None:
            text = f"{message} (line {line}, column {column})"
            if excerpt:
                text = f"{text}: {excerpt}"
        super().__init__(text)


class _Positional:
    """Marker for a table field without a key (`{ "a", "b" }`)."""


_POSITIONAL = _Positional()


class _Table:
    """A table being read. Stays a plain list while every field is positional and not nil,
    which is the common case (the character array), and becomes a dict otherwise."""

    __slots__ = ("items", "fields", "next_index", "key")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.fields: dict[Any, Any] | None = None
        self.next_index = 1  # Lua numbers positional fields on their own, ignoring keyed ones
        self.key: Any = _POSITIONAL

    def _as_dict(self) -> dict[Any, Any]:
        if self.fields is None:
            self.fields = {index: value for index, value in enumerate(self.items, start=1)}
            self.items = []
        return self.fields

    def store(self, value: Any) -> None:
        key = self.key
        self.key = _POSITIONAL
        if key is _POSITIONAL:
            key = self.next_index
            self.next_index += 1
            if self.fields is None and value is not None:
                self.items.append(value)
                return
        fields = self._as_dict()
        if value is None:
            # As in Lua: assigning nil means the entry does not exist (even if set before).
            fields.pop(key, None)
        else:
            fields[key] = value

    def finish(self) -> list[Any] | dict[Any, Any]:
        if self.fields is None:
            return self.items if self.items else {}
        fields = self.fields
        count = len(fields)
        # Keys exactly 1…n (in any order and form) make a list; `type(k) is int` keeps True out.
        if count and all(type(key) is int and 1 <= key <= count for key in fields):
            return [fields[index] for index in range(1, count + 1)]
        return fields


class _Parser:
    """One pass over the bytes of a file; positions are indexes into `buf`."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.end = len(buf)

    # Errors ------------------------------------------------------------------------------

    def error(self, message: str, pos: int) -> LuaParseError:
        buf = self.buf
        pos = min(pos, self.end)
        line_start = buf.rfind(b"\n", 0, pos) + 1
        line_end = buf.find(b"\n", pos)
        if line_end < 0:
            line_end = self.end
        # A few characters either side, so a one-line file of megabytes stays readable.
        start = max(line_start, pos - 30)
        stop = min(line_end, pos + 30)
        excerpt = buf[start:stop].decode("utf-8", "replace").replace("\r", "").replace("\t", " ")
        if start > line_start:
            excerpt = "…" + excerpt
        if stop < line_end:
            excerpt += "…"
        return LuaParseError(
            message,
            line=buf.count(b"\n", 0, pos) + 1,
            column=pos - line_start + 1,
            excerpt=excerpt,
        )

    def unexpected(self, pos: int, wanted: str, *, after_name: bool = False) -> LuaParseError:
        """An error for whatever stands at `pos` when `wanted` was expected."""
        if pos >= self.end:
            return self.error(_TRUNCATED, pos)
        byte = self.buf[pos]
        name = _NAME.match(self.buf, pos)
        if name is not None:
            word = name.group().decode("ascii")
            if word in _KEYWORDS:
                return self.error(
                    f"expected {wanted}, found the keyword '{word}': the file contains Lua "
                    "code, which is never run; only plain data is accepted",
                    pos,
                )
            return self.error(
                f"expected {wanted}, found the name '{word}': variables and function calls "
                "are Lua code, which is never run; only plain data is accepted",
                pos,
            )
        if byte in (_CODE_AFTER_NAME if after_name else _CODE_CHARACTERS):
            symbol = chr(byte)
            if self.buf.startswith(b"..", pos):
                symbol = ".."
            return self.error(
                f"expected {wanted}, found '{symbol}': operators and function calls are Lua "
                "code, which is never run; only plain data is accepted",
                pos,
            )
        shown = chr(byte) if 32 < byte < 127 else f"byte 0x{byte:02x}"
        return self.error(f"expected {wanted}, found '{shown}'", pos)

    # Lexical helpers -------------------------------------------------------------------------

    def skip(self, pos: int) -> int:
        """Skips whitespace and comments; returns the position of the next token."""
        buf = self.buf
        if pos < self.end and buf[pos] not in _SKIPPABLE_START:
            return pos  # the common case, without a regex call
        while True:
            match = _SKIP.match(buf, pos)
            pos = match.end() if match is not None else pos
            if not buf.startswith(b"--", pos):
                return pos
            # Only a long comment is left here: the pattern takes every line comment.
            opening = _LONG_OPEN.match(buf, pos + 2)
            assert opening is not None
            close = b"]" + opening.group(1) + b"]"
            found = buf.find(close, opening.end())
            if found < 0:
                raise self.error("unterminated long comment (missing " + close.decode() + ")", pos)
            pos = found + len(close)

    def expect_equals(self, pos: int, after: str, *, after_name: bool = True) -> int:
        buf = self.buf
        if pos < self.end and buf[pos] == _EQUALS and not buf.startswith(b"==", pos):
            return self.skip(pos + 1)
        raise self.unexpected(pos, f"'=' after {after}", after_name=after_name)

    # Tokens ----------------------------------------------------------------------------------

    def number(self, pos: int) -> tuple[int | float, int]:
        buf = self.buf
        match = _NUMBER.match(buf, pos)
        if match is None or _NUMBER_TAIL.match(buf, match.end()) is not None:
            stop = match.end() if match is not None else pos + 1
            tail = _NUMBER_TAIL.match(buf, stop)
            while tail is not None and stop - pos < 40:
                stop += 1
                tail = _NUMBER_TAIL.match(buf, stop)
            shown = buf[pos:stop].decode("utf-8", "replace")
            raise self.error(f"invalid number '{shown}'", pos)
        text = match.group()
        end = match.end()
        negative = text.startswith(b"-")
        digits = text[1:] if negative else text
        if digits[:2] in (b"0x", b"0X"):
            value: int | float = int(digits[2:], 16)
        elif b"." in digits or b"e" in digits or b"E" in digits:
            value = float(digits)
        else:
            value = int(digits)
        return (-value if negative else value), end

    def quoted_string(self, pos: int) -> tuple[str, int]:
        buf = self.buf
        quote = buf[pos]
        simple = _SIMPLE_STRING[quote].match(buf, pos)
        if simple is not None:
            return simple.group(1).decode("utf-8", "replace"), simple.end()
        run = _STRING_RUN[quote]
        parts: list[bytes] = []
        start = pos
        pos += 1
        end = self.end
        while True:
            match = run.match(buf, pos)
            assert match is not None  # the pattern matches the empty string
            parts.append(match.group())
            pos = match.end()
            if pos >= end:
                raise self.error("unterminated string", start)
            byte = buf[pos]
            if byte == quote:
                return b"".join(parts).decode("utf-8", "replace"), pos + 1
            if byte in (_CR, _LF):
                raise self.error("unterminated string (line break inside quotes)", start)
            # A backslash escape.
            pos += 1
            if pos >= end:
                raise self.error("unterminated string", start)
            byte = buf[pos]
            simple_escape = _SIMPLE_ESCAPES.get(byte)
            if simple_escape is not None:
                parts.append(simple_escape)
                pos += 1
            elif byte in (_CR, _LF):
                # Backslash-newline is a newline; "\r\n" or "\n\r" count as one line break.
                parts.append(b"\n")
                pos += 1
                if pos < end and buf[pos] in (_CR, _LF) and buf[pos] != byte:
                    pos += 1
            else:
                digits = _DIGITS.match(buf, pos)
                if digits is not None:
                    code = int(digits.group())
                    if code > 255:
                        raise self.error(f"escape sequence \\{code} is too large", pos - 1)
                    parts.append(bytes((code,)))
                    pos = digits.end()
                else:
                    # Lua 5.1: any other escaped character stands for itself.
                    parts.append(buf[pos : pos + 1])
                    pos += 1

    def long_string(self, pos: int) -> tuple[str, int]:
        buf = self.buf
        opening = _LONG_OPEN.match(buf, pos)
        assert opening is not None
        close = b"]" + opening.group(1) + b"]"
        found = buf.find(close, opening.end())
        if found < 0:
            raise self.error("unterminated long string (missing " + close.decode() + ")", pos)
        content = buf[opening.end() : found]
        # As in Lua, a line break right after the opening bracket is not part of the string,
        # and every line break inside becomes "\n".
        if content[:2] in (b"\r\n", b"\n\r"):
            content = content[2:]
        elif content[:1] in (b"\r", b"\n"):
            content = content[1:]
        if b"\r" in content:
            content = _NEWLINES.sub(b"\n", content)
        return content.decode("utf-8", "replace"), found + len(close)

    def is_long_open(self, pos: int) -> bool:
        return _LONG_OPEN.match(self.buf, pos) is not None

    def scalar(self, pos: int) -> tuple[Any, int]:
        """A value that is not a table: nil, boolean, number or string."""
        if pos >= self.end:
            raise self.error(_TRUNCATED, pos)
        byte = self.buf[pos]
        if byte in _SIMPLE_STRING:
            return self.quoted_string(pos)
        if byte == _LBRACKET and self.is_long_open(pos):
            return self.long_string(pos)
        if byte in _NUMBER_START:
            if byte == _MINUS and self.buf[pos + 1 : pos + 2] not in _NUMBER_AFTER_MINUS:
                raise self.unexpected(pos, "a value")  # "-x": an operator, not a number
            return self.number(pos)
        if byte in _NAME_START:
            name = _NAME.match(self.buf, pos)
            assert name is not None
            word = name.group()
            if word == b"true":
                return True, name.end()
            if word == b"false":
                return False, name.end()
            if word == b"nil":
                return None, name.end()
        raise self.unexpected(pos, "a value (nil, true, false, a number, a string or a table)")

    def key(self, pos: int) -> tuple[Any, int]:
        """The key inside `[ … ]`."""
        key, end = self.scalar(pos)
        if key is None:
            raise self.error("nil is not allowed as a table key", pos)
        if isinstance(key, float):
            if key != key:
                raise self.error("NaN is not allowed as a table key", pos)
            if key.is_integer():
                key = int(key)  # Lua: [1.0] and [1] are the same key
        return key, end

    # Grammar -------------------------------------------------------------------------------

    def field_start(self, table: _Table, pos: int) -> int:
        """Reads the key part of a field (`[k] =`, `name =`, or nothing for a positional
        value), records it on `table` and returns the position of the value."""
        buf = self.buf
        if pos >= self.end:
            raise self.error(_TRUNCATED, pos)
        byte = buf[pos]
        if byte == _LBRACKET:
            simple = _SIMPLE_FIELD_KEY.match(buf, pos)
            if simple is not None:
                table.key = simple.group(1).decode("utf-8", "replace")
                return self.skip(simple.end())
        if byte == _LBRACKET and not self.is_long_open(pos):
            key, pos = self.key(self.skip(pos + 1))
            pos = self.skip(pos)
            if pos >= self.end or buf[pos] != _RBRACKET:
                raise self.unexpected(pos, "']' after a table key")
            table.key = key
            return self.expect_equals(self.skip(pos + 1), "']'", after_name=False)
        if byte in _NAME_START:
            name = _NAME.match(buf, pos)
            assert name is not None
            word = name.group()
            if word not in (b"true", b"false", b"nil"):
                after = self.skip(name.end())
                if word.decode("ascii") in _KEYWORDS:
                    raise self.unexpected(pos, "a table field")
                table.key = word.decode("ascii")
                return self.expect_equals(after, f"the field name '{word.decode('ascii')}'")
        table.key = _POSITIONAL
        return pos

    def value(self, pos: int) -> tuple[Any, int]:
        """Reads one value, tables included, with an explicit stack instead of recursion so
        deep nesting ends in LuaParseError, never RecursionError."""
        buf = self.buf
        end = self.end
        stack: list[_Table] = []
        while True:
            # Here a value starts at `pos`.
            if pos < end and buf[pos] == _LBRACE:
                if len(stack) >= MAX_DEPTH:
                    raise self.error(f"tables are nested more than {MAX_DEPTH} levels deep", pos)
                table = _Table()
                stack.append(table)
                pos = self.skip(pos + 1)
                if pos < end and buf[pos] == _RBRACE:
                    stack.pop()
                    result: Any = {}
                    pos += 1
                else:
                    pos = self.skip(self.field_start(table, pos))
                    continue
            else:
                result, pos = self.scalar(pos)
            # A value is complete: store it and close every table that ends here.
            while True:
                if not stack:
                    return result, pos
                table = stack[-1]
                table.store(result)
                pos = self.skip(pos)
                if pos >= end:
                    raise self.error(_TRUNCATED, pos)
                byte = buf[pos]
                if byte == _COMMA or byte == _SEMICOLON:
                    pos = self.skip(pos + 1)
                    if pos < end and buf[pos] == _RBRACE:
                        pos += 1
                        result = stack.pop().finish()
                        continue
                    pos = self.skip(self.field_start(table, pos))
                    break
                if byte == _RBRACE:
                    pos += 1
                    result = stack.pop().finish()
                    continue
                raise self.unexpected(pos, "',' or '}' in a table")

    def file(self) -> dict[str, Any]:
        buf = self.buf
        variables: dict[str, Any] = {}
        pos = self.skip(3 if buf.startswith(_BOM) else 0)
        while pos < self.end:
            name = _NAME.match(buf, pos)
            if name is None or name.group().decode("ascii") in _KEYWORDS:
                raise self.unexpected(pos, "a variable assignment (Name = value)")
            word = name.group().decode("ascii")
            pos = self.expect_equals(self.skip(name.end()), f"'{word}'")
            value, pos = self.value(pos)
            if value is None:
                variables.pop(word, None)
            else:
                variables[word] = value  # a later assignment replaces an earlier one
            pos = self.skip(pos)
            if pos < self.end and buf[pos] == _SEMICOLON:
                pos = self.skip(pos + 1)
        return variables


def parse_saved_variables(text: str | bytes) -> dict[str, Any]:
    """All top-level assignments of a SavedVariables file, as {name: value}.

    Raises LuaParseError for anything that is not plain data, for input over 32 MB and for
    tables nested deeper than 100 levels. Strings are decoded as UTF-8 (invalid bytes become
    U+FFFD)."""
    if isinstance(text, str):
        if len(text) > MAX_INPUT_BYTES:
            raise LuaParseError(_too_large())
        data = text.encode("utf-8", "surrogatepass")
    else:
        data = bytes(text)
    if len(data) > MAX_INPUT_BYTES:
        raise LuaParseError(_too_large())
    return _Parser(data).file()


def _too_large() -> str:
    return f"the file is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB"


def pattsync_table(variables: dict[str, Any]) -> dict[str, Any]:
    """The PATTSyncDB table from parsed variables."""
    database = variables.get("PATTSyncDB")
    if database is None:
        raise LuaParseError("PATTSyncDB not found")
    if not isinstance(database, dict):
        raise LuaParseError("PATTSyncDB is not a table of named fields")
    return database


def load_pattsync(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Reads PATTSyncDB from the addon's SavedVariables file (FileNotFoundError if absent)."""
    with open(path, "rb") as handle:
        # One byte more than allowed, so an oversized file is refused without reading it all.
        data = handle.read(MAX_INPUT_BYTES + 1)
    return pattsync_table(parse_saved_variables(data))
