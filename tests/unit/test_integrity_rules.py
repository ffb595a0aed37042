"""Integrity rules on in-memory snapshots: detection, severity, wording, hashes, resolutions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sv_common.identity.integrity.rules import (
    AccountInfo,
    CharacterInfo,
    CheckSettings,
    CheckSnapshot,
    DetectedIssue,
    Evaluation,
    MemberInfo,
    OpenIssue,
    RankInfo,
    issue_hash,
    rank_change_issue,
    suggestion_issue,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RANKS = [
    RankInfo(1, "Initiate", 1),
    RankInfo(2, "Member", 2),
    RankInfo(3, "Veteran", 3),
    RankInfo(4, "Officer", 4),
    RankInfo(5, "Guild Leader", 5),
]
# in-game index → rank: 0 Guild Leader, 1 Officer, 2 Veteran, 3 Member, 4 Initiate


def char(
    ident: int,
    name: str,
    *,
    member_id: int | None = None,
    game_rank: int | None = 3,
    last_login: datetime | None = None,
    cls: str | None = "Druid",
) -> CharacterInfo:
    return CharacterInfo(
        id=ident,
        name=name,
        realm_slug="senjin",
        character_class=cls,
        game_rank=game_rank,
        game_rank_name=None,
        member_id=member_id,
        last_login_at=last_login,
    )


def acct(
    ident: int, display: str, *, role: str | None = None, member_id: int | None = None
) -> AccountInfo:
    return AccountInfo(
        id=ident,
        discord_id=f"{500 + ident}",
        username=display.lower(),
        display=display,
        highest_guild_role=role,
        member_id=member_id,
    )


def evaluate(
    characters: list[CharacterInfo],
    accounts: list[AccountInfo] | None = None,
    members: list[MemberInfo] | None = None,
    **settings: object,
) -> Evaluation:
    snapshot = CheckSnapshot(
        ranks=RANKS, members=members or [], characters=characters, accounts=accounts or []
    )
    return Evaluation(snapshot, CheckSettings(now=NOW, **settings))  # type: ignore[arg-type]


def by_type(issues: list[DetectedIssue], kind: str) -> list[DetectedIssue]:
    return [i for i in issues if i.issue_type == kind]


def test_hash_is_sha256_of_type_and_keys() -> None:
    assert issue_hash("rank_change", 5, 3, 2) == hashlib.sha256(b"rank_change:5:3:2").hexdigest()
    assert len(issue_hash("orphan_wow", 1)) == 64
    assert issue_hash("orphan_wow", 1) != issue_hash("stale_character", 1)


def test_orphan_wow() -> None:
    issues = evaluate([char(1, "Aldrameth", game_rank=2), char(2, "Linked", member_id=9)]).issues()
    (orphan,) = by_type(issues, "orphan_wow")
    assert orphan.summary == "Character 'Aldrameth' (Druid, Veteran) is not linked to any member"
    assert orphan.severity == "warning"
    assert orphan.keys == (1,) and orphan.character_id == 1
    assert orphan.details["realm"] == "senjin"


def test_orphan_wow_without_class_or_known_rank() -> None:
    (orphan,) = evaluate([char(1, "Aldrameth", game_rank=9, cls=None)]).issues()
    assert (
        orphan.summary
        == "Character 'Aldrameth' (unknown class, Rank 9) is not linked to any member"
    )


def test_orphan_discord_needs_a_guild_role_and_no_in_guild_character() -> None:
    issues = evaluate(
        [char(1, "Main", member_id=1)],
        [
            acct(1, "Has Char", role="Member", member_id=1),
            acct(2, "Unlinked", role="Veteran"),
            acct(3, "No Char", role="Member", member_id=2),
            acct(4, "Guest"),
        ],
        [MemberInfo(1, "One"), MemberInfo(2, "Two")],
    ).issues()
    orphans = by_type(issues, "orphan_discord")
    assert [o.discord_member_id for o in orphans] == [2, 3]
    assert orphans[0].summary == "Discord member 'Unlinked' (Veteran) has no character in the guild"


def test_role_mismatch_uses_the_highest_rank_over_alts_and_accounts() -> None:
    members = [MemberInfo(1, "Stoney")]
    characters = [
        char(1, "Main", member_id=1, game_rank=3),
        char(2, "Alt", member_id=1, game_rank=2),
    ]
    # Veteran via the alt; the Discord side is Member on one account, Veteran on the other
    agree = evaluate(
        characters,
        [acct(1, "a", role="Member", member_id=1), acct(2, "b", role="Veteran", member_id=1)],
        members,
    ).issues()
    assert by_type(agree, "role_mismatch") == []
    differ = evaluate(characters, [acct(1, "a", role="Member", member_id=1)], members).issues()
    (mismatch,) = by_type(differ, "role_mismatch")
    assert mismatch.summary == (
        "'Stoney' is Veteran in game but Member on Discord (expected Discord role: Veteran)"
    )
    assert mismatch.severity == "warning"
    assert mismatch.keys == (1,) and mismatch.member_id == 1
    assert mismatch.details["characters"] == ["Main", "Alt"]


def test_role_mismatch_is_critical_at_officer_level_on_either_side() -> None:
    members = [MemberInfo(1, "Stoney")]
    in_game_officer = evaluate(
        [char(1, "Main", member_id=1, game_rank=1)],
        [acct(1, "a", role="Member", member_id=1)],
        members,
    ).issues()
    assert by_type(in_game_officer, "role_mismatch")[0].severity == "critical"
    discord_leader = evaluate(
        [char(1, "Main", member_id=1, game_rank=3)],
        [acct(1, "a", role="Guild Leader", member_id=1)],
        members,
    ).issues()
    assert by_type(discord_leader, "role_mismatch")[0].severity == "critical"
    # a guild whose officers start at level 5 sees an Officer-level mismatch as a warning
    higher_bar = evaluate(
        [char(1, "Main", member_id=1, game_rank=1)],
        [acct(1, "a", role="Member", member_id=1)],
        members,
        admin_rank_level=5,
    ).issues()
    assert by_type(higher_bar, "role_mismatch")[0].severity == "warning"


def test_unknown_game_rank_is_left_out_of_comparisons() -> None:
    issues = evaluate(
        [char(1, "Main", member_id=1, game_rank=7), char(2, "Other", member_id=1, game_rank=None)],
        [acct(1, "a", member_id=1)],
        [MemberInfo(1, "Stoney")],
    ).issues()
    assert by_type(issues, "no_guild_role") == [] and by_type(issues, "role_mismatch") == []


def test_configured_game_rank_names() -> None:
    issues = evaluate(
        [char(1, "Main", member_id=1, game_rank=0)],
        [acct(1, "a", role="Member", member_id=1)],
        [MemberInfo(1, "Stoney")],
        game_rank_names=["Member"],
    ).issues()
    assert by_type(issues, "role_mismatch") == []


def test_no_guild_role() -> None:
    issues = evaluate(
        [char(1, "Main", member_id=1, game_rank=2)],
        [acct(1, "a", member_id=1)],
        [MemberInfo(1, "Stoney")],
    ).issues()
    (issue,) = by_type(issues, "no_guild_role")
    assert issue.summary == "'Stoney' is Veteran in game but has no guild role on Discord"
    assert issue.severity == "warning"
    # without any Discord account it is not a Discord problem
    alone = evaluate([char(1, "Main", member_id=1, game_rank=2)], [], [MemberInfo(1, "S")])
    assert by_type(alone.issues(), "no_guild_role") == []


def test_stale_character() -> None:
    issues = evaluate(
        [
            char(1, "Old", last_login=NOW - timedelta(days=45, hours=3), member_id=1),
            char(2, "Recent", last_login=NOW - timedelta(days=29), member_id=1),
            char(3, "Never", last_login=None, member_id=1),
            char(4, "Edge", last_login=NOW - timedelta(days=30), member_id=1),
        ],
        members=[MemberInfo(1, "One")],
    ).issues()
    (stale,) = by_type(issues, "stale_character")
    assert stale.summary == "'Old' (Member) has not logged in for 45 days"
    assert stale.severity == "info"
    assert stale.details["days_inactive"] == 45
    assert stale.details["last_login"] == (NOW - timedelta(days=45, hours=3)).isoformat()
    short = evaluate(
        [char(2, "Recent", last_login=NOW - timedelta(days=29), member_id=1)], stale_days=7
    )
    assert len(by_type(short.issues(), "stale_character")) == 1


def test_builders_for_engine_and_sync_issues() -> None:
    suggestion = suggestion_issue(
        character_id=3,
        character_name="Zoëlle",
        realm_slug="senjin",
        account_id=4,
        account_display="zoelie",
        score=10 / 12,
    )
    assert suggestion.summary == "Possible match: Zoëlle ↔ zoelie (83%)"
    assert suggestion.issue_hash == issue_hash("auto_link_suggestion", 3, 4)
    change = rank_change_issue(
        character_id=3,
        character_name="Zoëlle",
        old_index=3,
        new_index=2,
        old_name="Member",
        new_name="Veteran",
    )
    assert change.summary == "'Zoëlle' changed rank in game: Member → Veteran"
    assert change.issue_hash == issue_hash("rank_change", 3, 3, 2)


def _open(
    ident: int, kind: str, *keys: object, first: datetime = NOW, **entity: int | None
) -> OpenIssue:
    return OpenIssue(
        id=ident,
        issue_type=kind,
        issue_hash=issue_hash(kind, *keys),
        character_id=entity.get("character_id"),
        discord_member_id=entity.get("discord_member_id"),
        member_id=entity.get("member_id"),
        first_detected=first,
    )


def test_resolutions_explain_what_went_away() -> None:
    evaluation = evaluate(
        [char(1, "Linked", member_id=1, game_rank=None), char(2, "Orphan")],
        [acct(1, "Roleless", member_id=1), acct(2, "Guest")],
        [MemberInfo(1, "One")],
    )
    detected = {i.issue_hash for i in evaluation.issues()}
    opened = [
        _open(1, "orphan_wow", 1, character_id=1),
        _open(2, "orphan_wow", 9, character_id=9),
        _open(3, "orphan_wow", 2, character_id=2),  # still detected
        _open(4, "orphan_discord", 2, discord_member_id=2),
        _open(5, "orphan_discord", 8, discord_member_id=8),
        _open(6, "stale_character", 1, character_id=1),
        _open(7, "no_guild_role", 1, member_id=1),  # no ranked character any more
        _open(8, "role_mismatch", 1, "top_rank", member_id=1),  # role sync's own finding
        _open(9, "rank_change", 1, 3, 2, first=NOW - timedelta(days=7), character_id=1),
        _open(10, "rank_change", 1, 2, 1, first=NOW - timedelta(days=6), character_id=1),
        _open(11, "auto_link_suggestion", 1, 2, character_id=1, discord_member_id=2),
        _open(12, "auto_link_suggestion", 2, 8, character_id=2, discord_member_id=8),
        _open(13, "auto_link_suggestion", 2, 2, character_id=2, discord_member_id=2),
        _open(14, "role_mismatch", 1, member_id=None),  # its member was deleted
    ]
    notes = dict(evaluation.resolutions(opened, detected))
    assert notes == {
        1: "character linked",
        2: "left the guild",
        4: "guild role gone",
        5: "account left",
        6: "logged in recently",
        7: "no longer applicable",
        9: "expired",
        11: "character linked",
        12: "account left",
        14: "no longer applicable",
    }


def test_resolution_notes_for_rank_issues() -> None:
    members = [MemberInfo(1, "Stoney")]
    agree = evaluate(
        [char(1, "Main", member_id=1, game_rank=3)],
        [acct(1, "a", role="Member", member_id=1)],
        members,
    )
    notes = dict(
        agree.resolutions(
            [_open(1, "role_mismatch", 1, member_id=1), _open(2, "no_guild_role", 1, member_id=1)],
            set(),
        )
    )
    assert notes == {1: "ranks agree", 2: "guild role appeared"}
