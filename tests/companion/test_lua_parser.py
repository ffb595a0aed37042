"""The SavedVariables parser: every grammar rule, the Lua-to-Python mapping, errors with
positions, refusal of code, and robustness against hostile or broken files."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lua_parser import (
    MAX_DEPTH,
    MAX_INPUT_BYTES,
    LuaParseError,
    load_pattsync,
    parse_saved_variables,
)

from tests.companion.conftest import FIXTURES
from tests.companion.lua_writer import LuaWriter, expected_after_parse

GAME_FILE = FIXTURES / "pattsync_savedvariables.lua"

EXPECTED_GAME_DATA = {
    "lastExportTime": 1771699200,
    "totalExports": 5,
    "lastExport": {
        "exportTime": 1771699200,
        "exportTimeISO": "2026-02-21T18:40:00Z",
        "addonVersion": "1.0.0",
        "guildName": "Pull All The Things",
        "memberCount": 2,
        "canViewOfficerNote": True,
        "characters": [
            {
                "name": "Aldrameth",
                "realm": "Sen'jin",
                "class": "Druid",
                "classFile": "DRUID",
                "level": 80,
                "rank": 0,
                "rankName": "Guild Leader",
                "zone": "Dornogal",
                "note": "GM",
                "officerNote": "Discord: stonehoof",
                "isOnline": True,
                "lastOnline": "Online",
                "achievementPoints": 14210,
            },
            {
                "name": "Zoëlle",
                "realm": "BleedingHollow",
                "class": "Mage",
                "classFile": "MAGE",
                "level": 80,
                "rank": 3,
                "rankName": "Member",
                "zone": "",
                "note": "alt of Brañix",
                "officerNote": "",
                "isOnline": False,
                "lastOnline": "2d 4h",
                "achievementPoints": 9050,
            },
        ],
    },
}


def value_of(lua_value: str) -> Any:
    """The Python value of `X = <lua_value>`."""
    return parse_saved_variables(f"X = {lua_value}").get("X")


# Whole files ---------------------------------------------------------------------------------


def test_game_written_file() -> None:
    assert load_pattsync(GAME_FILE) == EXPECTED_GAME_DATA
    assert parse_saved_variables(GAME_FILE.read_bytes()) == {"PATTSyncDB": EXPECTED_GAME_DATA}


def test_hand_written_variant_of_the_same_data() -> None:
    text = """\ufeff-- written by hand
    PATTSyncDB = { lastExportTime = 0x6799F600; totalExports = 5,
      lastExport = {
        exportTime = 1771699200, exportTimeISO = '2026-02-21T18:40:00Z',
        addonVersion = [[1.0.0]], guildName = "Pull All The Things", memberCount = 2.0,
        canViewOfficerNote = true, --[==[ long
        comment ]==]
        characters = {
          [1] = { name = "Aldrameth", realm = "Sen'jin", class = "Druid", classFile = "DRUID",
                  level = 80, rank = 0, rankName = "Guild Leader", zone = "Dornogal",
                  note = "GM", officerNote = "Discord: stonehoof", isOnline = true,
                  lastOnline = "Online", achievementPoints = 14210 };
          [2] = { name = "Zo\\195\\171lle", realm = "BleedingHollow", class = "Mage",
                  classFile = "MAGE", level = 80, rank = 3, rankName = "Member", zone = "",
                  note = "alt of Bra\\195\\177ix", officerNote = '', isOnline = false,
                  lastOnline = "2d 4h", achievementPoints = 9050, unknown = nil },
        },
      },
    };
    """.replace("\n", "\r\n")
    data = load_text(text)
    expected = {**EXPECTED_GAME_DATA, "lastExportTime": 0x6799F600}
    assert data == expected
    assert type(data["lastExport"]["memberCount"]) is float


def load_text(text: str) -> dict[str, Any]:
    return parse_saved_variables(text.encode("utf-8"))["PATTSyncDB"]


def test_several_assignments_and_empty_files() -> None:
    assert parse_saved_variables("A = 1\nB = 'x'; C = {}") == {"A": 1, "B": "x", "C": {}}
    assert parse_saved_variables("") == {}
    assert parse_saved_variables("  \n-- only a comment\n") == {}
    assert parse_saved_variables(b"\xef\xbb\xbf") == {}


def test_duplicate_assignment_last_wins_and_nil_removes() -> None:
    assert parse_saved_variables("A = 1 A = 2") == {"A": 2}
    assert parse_saved_variables("A = 1 A = nil B = nil") == {}


# Values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lua", "expected"),
    [
        ("true", True),
        ("false", False),
        ("nil", None),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1771699200", 1771699200),
        ("3.25", 3.25),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("1e+2", 100.0),
        ("0x1F", 31),
        ("0XfF", 255),
        ("-0x10", -16),
        ("5.", 5.0),
    ],
)
def test_numbers_and_keywords(lua: str, expected: Any) -> None:
    result = value_of(lua)
    assert result == expected
    assert type(result) is type(expected)


def test_huge_exponent_is_infinity_like_lua() -> None:
    assert value_of("1e999") == math.inf


@pytest.mark.parametrize(
    ("lua", "expected"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('""', ""),
        (r'"a\nb\tc\rd"', "a\nb\tc\rd"),
        (r'"\a\b\f\v"', "\a\b\f\v"),
        (r'"q\"q\'q\\q"', "q\"q'q\\q"),
        (r"'it\'s'", "it's"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"\65\066\0671"', "ABC1"),
        (r'"\0"', "\0"),
        (r'"\255"', "\ufffd"),  # a lone byte 255 is not UTF-8
        (r'"\z\q\x41"', "zqx41"),  # Lua 5.1: other escaped characters stand for themselves
        ('"line\\\nnext"', "line\nnext"),
        ('"line\\\r\nnext"', "line\nnext"),
        (r'"Zo\195\171lle"', "Zoëlle"),
        ('"Zoëlle"', "Zoëlle"),
        ('"日本語 ✓"', "日本語 ✓"),
        ("[[long]]", "long"),
        ("[[\nfirst newline dropped]]", "first newline dropped"),
        ("[[\r\nwindows]]", "windows"),
        ("[[a\r\nb\rc]]", "a\nb\nc"),
        ('[[no \\n escapes "here"]]', 'no \\n escapes "here"'),
        ("[==[has ]] and ]=] inside]==]", "has ]] and ]=] inside"),
        ("[=[\n]=]", ""),
    ],
)
def test_strings(lua: str, expected: str) -> None:
    assert value_of(lua) == expected


def test_escaped_and_literal_utf8_give_the_same_text() -> None:
    assert value_of(r'"Bra\195\177ix"') == value_of('"Brañix"') == "Brañix"


def test_invalid_utf8_becomes_replacement_characters() -> None:
    data = parse_saved_variables(b'X = "ok \xff\xfe end" Y = [[\xc3]]')
    assert data == {"X": "ok \ufffd\ufffd end", "Y": "\ufffd"}


def test_str_with_lone_surrogates_does_not_crash() -> None:
    assert value_of('"a\ud800b"').startswith("a")


# Tables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lua", "expected"),
    [
        ("{}", {}),
        ("{ }", {}),
        ("{1, 2, 3}", [1, 2, 3]),
        ("{1, 2, 3,}", [1, 2, 3]),
        ("{1; 2; 3;}", [1, 2, 3]),
        ('{"a", "b"}', ["a", "b"]),
        ("{[1] = 'a', [2] = 'b'}", ["a", "b"]),
        ("{[2] = 'b', [1] = 'a'}", ["a", "b"]),
        ("{'a', [2] = 'b'}", ["a", "b"]),
        ("{[1.0] = 'a'}", ["a"]),
        ("{[2] = 'b'}", {2: "b"}),
        ("{[0] = 'z', 'a'}", {0: "z", 1: "a"}),
        ("{a = 1, b = 2}", {"a": 1, "b": 2}),
        ('{["a b"] = 1, ["1"] = 2}', {"a b": 1, "1": 2}),
        ("{[1.5] = 'x'}", {1.5: "x"}),
        ("{[-3] = 'x'}", {-3: "x"}),
        ("{[true] = 'y', [false] = 'n'}", {True: "y", False: "n"}),
        ("{[ [[long key]] ] = 1}", {"long key": 1}),
        ("{[0x10] = 1}", {16: 1}),
        ("{'a', x = 1, 'b'}", {1: "a", "x": 1, 2: "b"}),
        ("{x = 1, 'a'}", {"x": 1, 1: "a"}),
        ("{data = nil}", {}),
        ("{1, nil, 3}", {1: 1, 3: 3}),
        ("{nil}", {}),
        ("{nil, 2}", {2: 2}),
        ("{a = 1, a = 2}", {"a": 2}),
        ("{a = 1, a = nil}", {}),
        ("{[1] = 'a', 'b'}", ["b"]),  # source order decides: the later field wins
        ("{{}, {{}}}", [{}, [{}]]),
        ("{{1, 2}, {a = {b = {c = true}}}}", [[1, 2], {"a": {"b": {"c": True}}}]),
        ("{true, false}", [True, False]),
        ("{ -- comment\n 1, --[[ x ]] 2 }", [1, 2]),
        ('{\n\t["k"] = 1, -- [1]\n}', {"k": 1}),
        ('{ [ "spaced" ] = 1 }', {"spaced": 1}),
        ('{["k"]=1}', {"k": 1}),
    ],
)
def test_tables(lua: str, expected: Any) -> None:
    assert value_of(lua) == expected


def test_positional_values_in_game_arrays_ignore_the_index_comments() -> None:
    text = 'X = {\n\t{\n\t\t["n"] = 1,\n\t}, -- [1]\n\t{\n\t\t["n"] = 2,\n\t}, -- [2]\n}\n'
    assert parse_saved_variables(text) == {"X": [{"n": 1}, {"n": 2}]}


def test_nesting_up_to_the_limit_is_accepted() -> None:
    text = "X = " + "{" * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    value = parse_saved_variables(text)["X"]
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == [1]


# Errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("X = {", "truncated"),
        ('X = {\n\t["a"] = 1,\n\t["b"] = ', "truncated"),
        ('X = {["a"] = "trunc', "unterminated string"),
        ("X = 'no end\n'", "line break inside quotes"),
        ('X = "ends with backslash\\', "unterminated string"),
        ("X = [[ open", "unterminated long string"),
        ("X = [==[ open ]=]", "unterminated long string"),
        ("X = 1 --[[ open", "unterminated long comment"),
        ("X = 1 --[=[ open ]]", "unterminated long comment"),
        ("X 1", "expected '=' after 'X'"),
        ("X == 1", "expected '=' after 'X'"),
        ("X = {a 1}", "expected '=' after the field name 'a'"),
        ("X = {[1 = 2}", "expected ']'"),
        ("X = {['a'] 2}", "expected '=' after ']'"),
        ("X = {1 2}", "expected ',' or '}'"),
        ("X = {1,, 2}", "expected a value"),
        ("X = }", "expected a value"),
        ("X = ", "truncated"),
        ("X = 1 }", "expected a variable assignment"),
        ("X = 1 garbage", "truncated"),
        ("X = 1 2", "expected a variable assignment"),
        ("= 1", "expected a variable assignment"),
        ("X = {[nil] = 1}", "nil is not allowed as a table key"),
        ("X = {[{}] = 1}", "expected a value"),
        ("X = 1.2.3", "invalid number '1.2.3'"),
        ("X = 12abc", "invalid number '12abc'"),
        ("X = 0x", "invalid number '0x'"),
        ("X = 0xZ", "invalid number '0xZ'"),
        ("X = 1e", "invalid number '1e'"),
        ("X = 1e+", "invalid number"),
        ("X = -", "found '-': operators"),
        ("X = - 1", "found '-': operators"),
        ("X = .", "invalid number"),
        ('X = "\\256"', "escape sequence \\256 is too large"),
        ("X = @", "found '@'"),
        ("X = \x01", "found 'byte 0x01'"),
        ("local = 1", "keyword 'local'"),
        ("X = {end = 1}", "keyword 'end'"),
    ],
)
def test_malformed_input_raises_lua_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(LuaParseError) as caught:
        parse_saved_variables(text)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_error_carries_line_column_and_excerpt() -> None:
    text = 'PATTSyncDB = {\n\t["a"] = 1,\n\t["b"] = ?,\n}\n'
    with pytest.raises(LuaParseError) as caught:
        parse_saved_variables(text)
    error = caught.value
    assert (error.line, error.column) == (3, 10)
    assert error.excerpt == ' ["b"] = ?,'
    assert "(line 3, column 10)" in str(error)


def test_error_excerpt_of_a_huge_single_line_stays_short() -> None:
    text = "X = {" + "1," * 50_000 + "?}"
    with pytest.raises(LuaParseError) as caught:
        parse_saved_variables(text)
    assert caught.value.line == 1
    assert caught.value.column == len(text) - 1
    assert len(caught.value.excerpt) <= 70


@pytest.mark.parametrize(
    "text",
    [
        'os.execute("rm -rf /")',
        'X = os.execute("rm -rf /")',
        'X = { os.execute("rm -rf /") }',
        'X = {1, 2, evil = io.open("f")}',
        'print("hello")',
        'X = print("hello")',
        "X = 'a' .. 'b'",
        "X = {'a' .. 'b'}",
        "X = 1 + 2",
        "X = #Y",
        "X = -Y",
        "X = function() end",
        "X = {f = function() return 1 end}",
        "local X = 1",
        "return {1}",
        'dofile("other.lua")',
        "X = Y",
        'X = loadstring("return 1")()',
        "X = setmetatable({}, {})",
        'X = ("a"):rep(10)',
        "X = {}\nX.y = 1",
        'X = {} X["y"] = 1',
    ],
)
def test_code_is_refused_with_a_clear_message(text: str) -> None:
    with pytest.raises(LuaParseError) as caught:
        parse_saved_variables(text)
    assert "Lua code, which is never run" in str(caught.value)


def test_refusing_code_names_the_problem() -> None:
    with pytest.raises(LuaParseError, match="function calls are Lua code, which is never run"):
        parse_saved_variables('os.execute("rm -rf /")')
    with pytest.raises(LuaParseError, match=r"found '\.\.': operators"):
        parse_saved_variables("X = 'a' .. 'b'")
    with pytest.raises(LuaParseError, match="found the keyword 'function'"):
        parse_saved_variables("X = function() end")


def test_input_over_32_mb_is_refused_before_parsing() -> None:
    oversized = b"X" * (MAX_INPUT_BYTES + 1)  # would be a parse error too, but later
    with pytest.raises(LuaParseError, match="larger than 32 MB") as caught:
        parse_saved_variables(oversized)
    assert caught.value.line is None
    with pytest.raises(LuaParseError, match="larger than 32 MB"):
        parse_saved_variables("X" * (MAX_INPUT_BYTES + 1))
    # 16M two-byte characters: short as text, over the limit as UTF-8
    with pytest.raises(LuaParseError, match="larger than 32 MB"):
        parse_saved_variables("é" * (MAX_INPUT_BYTES // 2 + 1))


def test_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "PATTSync.lua"
    with path.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES + 10 * 1024 * 1024)  # sparse: instant, no disk use
    with pytest.raises(LuaParseError, match="larger than 32 MB"):
        load_pattsync(path)


def test_deeper_nesting_than_the_limit_is_refused() -> None:
    text = "X = " + "{" * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1)
    with pytest.raises(LuaParseError, match="nested more than 100 levels"):
        parse_saved_variables(text)


def test_hundred_thousand_open_braces_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(LuaParseError, match="nested more than 100 levels") as caught:
        parse_saved_variables("X = " + "{" * 100_000)
    assert time.perf_counter() - started < 1.0
    assert caught.value.column == 4 + MAX_DEPTH + 1


def test_load_pattsync_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_pattsync(tmp_path / "missing.lua")
    other = tmp_path / "Other.lua"
    other.write_text("OtherAddonDB = {}\nPATTSyncDB = nil\n")
    with pytest.raises(LuaParseError, match="PATTSyncDB not found"):
        load_pattsync(other)
    wrong_shape = tmp_path / "Wrong.lua"
    wrong_shape.write_text("PATTSyncDB = {1, 2}")
    with pytest.raises(LuaParseError, match="PATTSyncDB is not a table of named fields"):
        load_pattsync(wrong_shape)
    empty = tmp_path / "Empty.lua"
    empty.write_text("PATTSyncDB = {}")
    assert load_pattsync(empty) == {}


# Properties -----------------------------------------------------------------------------------

KEYS = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.integers(min_value=-5, max_value=50),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
DATA = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(KEYS, children, max_size=6),
    ),
    max_leaves=30,
)


# derandomize: the same examples on every run, so the suite is deterministic
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    variables=st.dictionaries(
        st.from_regex(r"[A-Z][A-Za-z0-9_]{0,10}", fullmatch=True), DATA, max_size=3
    ),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_round_trip_of_random_data(variables: dict[str, Any], seed: int) -> None:
    text = LuaWriter(random.Random(seed)).file(variables)
    expected = {name: expected_after_parse(value) for name, value in variables.items()}
    assert parse_saved_variables(text) == expected


def test_thousand_random_truncations_and_byte_flips_only_raise_lua_parse_error() -> None:
    original = GAME_FILE.read_bytes()
    rng = random.Random(20260221)
    slowest = 0.0
    outcomes = {"parsed": 0, "refused": 0}
    for round_number in range(1000):
        data = bytearray(original)
        if round_number % 2 == 0:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        started = time.perf_counter()
        try:
            parse_saved_variables(bytes(data))
            outcomes["parsed"] += 1
        except LuaParseError:
            outcomes["refused"] += 1
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 1.0
    assert outcomes["refused"] > 500, outcomes  # truncations nearly always break the file


def _big_export(target_bytes: int) -> bytes:
    record = (
        "\t\t\t{\n"
        '\t\t\t\t["name"] = "Zoëlle%d",\n'
        '\t\t\t\t["realm"] = "BleedingHollow",\n'
        '\t\t\t\t["class"] = "Mage",\n'
        '\t\t\t\t["classFile"] = "MAGE",\n'
        '\t\t\t\t["level"] = 80,\n'
        '\t\t\t\t["rank"] = 3,\n'
        '\t\t\t\t["rankName"] = "Member",\n'
        '\t\t\t\t["zone"] = "Dornogal",\n'
        '\t\t\t\t["note"] = "alt of Bra\\195\\177ix",\n'
        '\t\t\t\t["officerNote"] = "Discord: someone#1234",\n'
        '\t\t\t\t["isOnline"] = false,\n'
        '\t\t\t\t["lastOnline"] = "2d 4h",\n'
        '\t\t\t\t["achievementPoints"] = 9050,\n'
        "\t\t\t}, -- [%d]\n"
    )
    parts = ['PATTSyncDB = {\n\t["lastExport"] = {\n\t\t["characters"] = {\n']
    size = 0
    index = 0
    while size < target_bytes:
        index += 1
        part = record % (index, index)
        parts.append(part)
        size += len(part.encode("utf-8"))
    parts.append("\t\t},\n\t},\n}\n")
    return "".join(parts).encode("utf-8")


def test_five_megabyte_file_parses_quickly() -> None:
    data = _big_export(5 * 1024 * 1024)
    started = time.perf_counter()
    result = parse_saved_variables(data)
    elapsed = time.perf_counter() - started
    characters = result["PATTSyncDB"]["lastExport"]["characters"]
    print(f"\n5 MB SavedVariables ({len(characters)} characters) parsed in {elapsed:.3f} s")
    assert characters[-1]["name"] == f"Zoëlle{len(characters)}"
    assert characters[0]["note"] == "alt of Brañix"
    assert elapsed < 5.0  # about 0.5 s on a slow machine; generous so it never flakes
