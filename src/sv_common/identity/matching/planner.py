"""The matching decisions, computed in memory from a snapshot (pure: no database).

Given members, characters, Discord accounts, ranks, officers' rejections and ignored
suggestions, `plan_matching` decides which unlinked accounts join existing members (step A),
which unlinked in-guild characters join whom (strategies B1–B5), which members must be created
for accounts that had none, and which near-misses become suggestions for an officer.

Every lookup goes through dictionaries built once (name key → ids), so the work grows linearly
with the guild; the fuzzy step uses the bulk pair search of `similarity`.

Nothing already linked is ever moved, and a pairing an officer rejected is never proposed.
The snapshot and plan types live in `model`; they are re-exported here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sv_common.db.enums import Confidence, IssueType, LinkSource, MainAlt
from sv_common.identity.integrity.rules import issue_hash
from sv_common.identity.matching.model import (
    AccountRow,
    CharacterRow,
    MatchingStats,
    MemberRow,
    NewMember,
    Plan,
    PlannedLink,
    PlannedSuggestion,
    RankRow,
    Snapshot,
    member_values_for_account,
)
from sv_common.identity.matching.note_hints import NoteHints, parse_note
from sv_common.identity.matching.similarity import similar_pairs
from sv_common.identity.names import key, tokens
from sv_common.identity.realms import realm_key

__all__ = [
    "AccountRow",
    "CharacterRow",
    "MatchingStats",
    "MemberRow",
    "NewMember",
    "Plan",
    "PlannedLink",
    "PlannedSuggestion",
    "RankRow",
    "Snapshot",
    "member_values_for_account",
    "plan_matching",
]

FUZZY_AUTO_LINK = 0.85
FUZZY_SUGGEST = 0.70
MAX_PASSES = 3
MIN_FUZZY_KEY = 3


# ------------------------------------------------------------------------------ planner
# A target is a member (("m", member ref)) or an unlinked account (("a", account id)) that would
# become a new member.
Target = tuple[str, int]


@dataclass
class _Outcome:
    """Result of one strategy for one character."""

    target: Target | None = None
    ambiguous: bool = False
    # the note's character hints, when they helped find the target: the character is an alt
    main_hints: list[tuple[str, str | None]] | None = None


@dataclass
class _Prepared:
    """Per-character data computed once: keys and parsed notes."""

    row: CharacterRow
    key: str
    guild_hints: NoteHints
    officer_hints: NoteHints


class _Planner:
    """One planning run: indexes built once, live link state updated as decisions are made."""

    def __init__(self, snapshot: Snapshot, *, fuzzy_auto_link: float, fuzzy_suggest: float):
        self.snapshot = snapshot
        self.fuzzy_auto_link = fuzzy_auto_link
        self.fuzzy_suggest = fuzzy_suggest
        self.plan = Plan()
        self.accounts = {a.id: a for a in snapshot.accounts}
        self.present = sorted((a for a in snapshot.accounts if a.is_present), key=lambda a: a.id)
        self.characters = {c.id: c for c in snapshot.characters}
        # live state: updated as this plan links things
        self.account_member: dict[int, int | None] = {a.id: a.member_id for a in snapshot.accounts}
        self.character_member: dict[int, int | None] = {
            c.id: c.member_id for c in snapshot.characters
        }
        self.members_in_guild = {
            c.member_id for c in snapshot.characters if c.member_id is not None and c.in_guild
        }
        self.members_with_main = {
            c.member_id
            for c in snapshot.characters
            if c.member_id is not None and c.main_alt == MainAlt.MAIN
        }
        self.members_with_account = {a.member_id for a in snapshot.accounts if a.member_id}
        self.taken_discord_ids = {m.discord_id for m in snapshot.members if m.discord_id}
        self.taken_usernames = {
            m.discord_username.lower() for m in snapshot.members if m.discord_username
        }
        self.new_member_account: dict[int, int] = {}
        self.next_ref = -1
        self.known_alts: set[int] = set()
        self.named_mains: list[tuple[int, int, list[tuple[str, str | None]]]] = []
        # name indexes, built once
        self.accounts_by_key: dict[str, set[int]] = defaultdict(set)
        self.accounts_by_token: dict[str, set[int]] = defaultdict(set)
        for account in self.present:
            for name in (account.username, account.nickname, account.global_name):
                name_key = key(name)
                if name_key:
                    self.accounts_by_key[name_key].add(account.id)
            for name in (account.nickname, account.global_name):
                for token in tokens(name):
                    self.accounts_by_token[token].add(account.id)
        self.members_by_key: dict[str, set[int]] = defaultdict(set)
        for member in snapshot.members:
            name_key = key(member.discord_username)
            if name_key:
                self.members_by_key[name_key].add(member.id)
        self.characters_by_key: dict[str, list[CharacterRow]] = defaultdict(list)
        for character in sorted(snapshot.characters, key=lambda c: (not c.in_guild, c.id)):
            self.characters_by_key[key(character.name)].append(character)

    # ----------------------------------------------------------------------- step A
    def link_accounts_to_members(self) -> None:
        """A1 by snowflake, A2 by username for members with neither snowflake nor account."""
        by_snowflake = {m.discord_id: m.id for m in self.snapshot.members if m.discord_id}
        free_by_key: dict[str, list[int]] = defaultdict(list)
        for member in self.snapshot.members:
            if member.discord_id or member.id in self.members_with_account:
                continue
            name_key = key(member.discord_username)
            if name_key:
                free_by_key[name_key].append(member.id)
        unlinked = [a for a in self.present if self.account_member[a.id] is None]
        # Two unlinked accounts with the same username key would both claim the member: neither
        # does, an officer decides.
        username_keys = Counter(key(a.username) for a in unlinked)
        for account in unlinked:
            member_id = by_snowflake.get(account.discord_id)
            source = LinkSource.DISCORD_SYNC
            if member_id is None:
                name_key = key(account.username)
                candidates = free_by_key.get(name_key, [])
                if not name_key or len(candidates) != 1 or username_keys[name_key] != 1:
                    continue
                member_id = candidates[0]
                source = LinkSource.EXACT_NAME_MATCH
            if (account.id, member_id) in self.snapshot.rejected_account_member:
                continue
            if source == LinkSource.EXACT_NAME_MATCH:
                free_by_key[key(account.username)] = []
                self.plan.member_discord_ids.append((member_id, account.discord_id))
                self.taken_discord_ids.add(account.discord_id)
            self._link_account(account.id, member_id, source, Confidence.HIGH, confirmed=True)
            self.plan.stats.accounts_linked += 1

    def _link_account(
        self, account_id: int, member_ref: int, source: str, confidence: str, *, confirmed: bool
    ) -> None:
        self.account_member[account_id] = member_ref
        self.members_with_account.add(member_ref)
        self.plan.account_links.append(
            PlannedLink(
                member_ref=member_ref,
                source=source,
                confidence=confidence,
                confirmed=confirmed,
                account_id=account_id,
            )
        )

    # ------------------------------------------------------------------- targets
    def _account_target(self, account_id: int) -> Target:
        member_ref = self.account_member[account_id]
        return ("m", member_ref) if member_ref is not None else ("a", account_id)

    def _allowed(self, character_id: int, target: Target, via_account: int | None) -> bool:
        """False when an officer rejected this pairing."""
        kind, ident = target
        rejected_cm = self.snapshot.rejected_character_member
        rejected_ca = self.snapshot.rejected_character_account
        if via_account is not None and (character_id, via_account) in rejected_ca:
            return False
        if kind == "a":
            return (character_id, ident) not in rejected_ca
        origin = self.new_member_account.get(ident)
        if origin is not None and (character_id, origin) in rejected_ca:
            return False
        return (character_id, ident) not in rejected_cm

    def _name_candidates(self, name_key: str) -> Iterable[tuple[Target, int | None]]:
        """Targets whose account names or member Discord username have this key."""
        for account_id in self.accounts_by_key.get(name_key, ()):
            yield self._account_target(account_id), account_id
        for member_id in self.members_by_key.get(name_key, ()):
            yield ("m", member_id), None

    def _decide(
        self, character_id: int, candidates: Iterable[tuple[Target, int | None]]
    ) -> _Outcome:
        targets = {t for t, via in candidates if self._allowed(character_id, t, via)}
        if len(targets) == 1:
            return _Outcome(target=next(iter(targets)))
        return _Outcome(ambiguous=len(targets) > 1)

    # ----------------------------------------------------------------- strategies
    def _exact(self, item: _Prepared) -> _Outcome:
        if not item.key:
            return _Outcome()
        return self._decide(item.row.id, self._name_candidates(item.key))

    def _token(self, item: _Prepared) -> _Outcome:
        accounts = self.accounts_by_token.get(item.key, ())
        return self._decide(item.row.id, ((self._account_target(a), a) for a in accounts))

    def _notes(self, item: _Prepared, hints: NoteHints) -> _Outcome:
        """All hints of one note together must point at exactly one target."""
        if not hints:
            return _Outcome()
        candidates: list[tuple[Target, int | None]] = []
        for hint in hints.discord:
            candidates.extend(self._name_candidates(key(hint)))
        from_main_hints: set[Target] = set()
        for name, realm in zip(hints.characters, hints.realms, strict=True):
            named = self._linked_characters(key(name), realm, exclude=item.row.id)
            found: list[tuple[Target, int | None]]
            if named:
                found = [(("m", self._member_of(c.id)), None) for c in named]
            else:
                # People often write their Discord name where a character was expected.
                found = list(self._name_candidates(key(name)))
            candidates.extend(found)
            from_main_hints.update(target for target, _ in found)
        outcome = self._decide(item.row.id, candidates)
        if outcome.target is not None and outcome.target in from_main_hints:
            outcome.main_hints = list(zip(hints.characters, hints.realms, strict=True))
        return outcome

    def _member_of(self, character_id: int) -> int:
        member_ref = self.character_member[character_id]
        assert member_ref is not None
        return member_ref

    def _linked_characters(
        self, name_key: str, realm: str | None, *, exclude: int
    ) -> list[CharacterRow]:
        """Linked characters with this name key (on that realm when given), in-guild ones first."""
        wanted_realm = realm_key(realm) if realm else None
        found = [
            c
            for c in self.characters_by_key.get(name_key, ())
            if c.id != exclude
            and self.character_member[c.id] is not None
            and (wanted_realm is None or realm_key(c.realm_slug) == wanted_realm)
        ]
        in_guild = [c for c in found if c.in_guild]
        return in_guild or found

    # ------------------------------------------------------------------- linking
    def _create_member(
        self, account_id: int, source: str, confidence: str, *, confirmed: bool
    ) -> int | None:
        account = self.accounts[account_id]
        values = member_values_for_account(
            account,
            self.snapshot.ranks,
            username_taken=account.username.lower() in self.taken_usernames,
            discord_id_taken=account.discord_id in self.taken_discord_ids,
        )
        if values is None:
            return None
        ref = self.next_ref
        self.next_ref -= 1
        if values["discord_username"]:
            self.taken_usernames.add(values["discord_username"].lower())
        if values["discord_id"]:
            self.taken_discord_ids.add(values["discord_id"])
        self.plan.new_members.append(NewMember(ref=ref, account_id=account_id, **values))
        self.new_member_account[ref] = account_id
        self.plan.stats.members_created += 1
        self.plan.stats.accounts_linked += 1
        self._link_account(account_id, ref, source, confidence, confirmed=confirmed)
        return ref

    def _link_character(
        self,
        character: CharacterRow,
        target: Target,
        source: str,
        confidence: str,
        *,
        confirmed: bool,
        strategy: str,
        main_hints: list[tuple[str, str | None]] | None = None,
    ) -> bool:
        kind, ident = target
        if kind == "a":
            created = self._create_member(ident, source, confidence, confirmed=confirmed)
            if created is None:
                return False
            member_ref = created
        else:
            member_ref = ident
        main_alt = character.main_alt
        if main_hints is not None:
            # Linked because its note names its main: this one is an alt (the named main may
            # only get linked later in the run; `_promote_named_mains` looks at it then).
            main_alt = MainAlt.ALT
            self.known_alts.add(character.id)
            self.named_mains.append((character.id, member_ref, main_hints))
        elif main_alt == MainAlt.MAIN:
            if member_ref in self.members_with_main:
                main_alt = MainAlt.ALT  # one main per member
            else:
                self.members_with_main.add(member_ref)
        self.character_member[character.id] = member_ref
        if character.in_guild:
            self.members_in_guild.add(member_ref)
        self.plan.character_links.append(
            PlannedLink(
                member_ref=member_ref,
                source=source,
                confidence=confidence,
                confirmed=confirmed,
                character_id=character.id,
                main_alt=str(main_alt),
                strategy=strategy,
            )
        )
        return True

    # ----------------------------------------------------------------------- step B
    def link_characters(self) -> None:
        """B1–B4 in passes, the fuzzy step for whatever is left, then B1–B4 once more when the
        fuzzy step linked someone: an alt whose note names a main that only a near-miss name
        could link joins it in the same run (and a second run has nothing left to do)."""
        pending = [
            _Prepared(
                row=c,
                key=key(c.name),
                guild_hints=parse_note(c.guild_note),
                officer_hints=parse_note(c.officer_note),
            )
            for c in sorted(self.snapshot.characters, key=lambda c: c.id)
            if c.member_id is None and c.in_guild
        ]
        ambiguous: set[int] = set()
        remaining = self._exact_passes(pending, ambiguous)
        if self._fuzzy(remaining, ambiguous):
            self._exact_passes(
                [item for item in remaining if self.character_member[item.row.id] is None],
                ambiguous,
            )
        self._promote_named_mains()
        stats = self.plan.stats
        for item in pending:
            if self.character_member[item.row.id] is not None:
                continue
            if item.row.id in ambiguous:
                stats.ambiguous += 1
            else:
                stats.unmatched += 1

    def _exact_passes(self, pending: list[_Prepared], ambiguous: set[int]) -> list[_Prepared]:
        """B1–B4 over the characters in id order, repeated (at most MAX_PASSES times) while a
        pass linked someone, so a note naming a character linked later in the run still
        counts; returns the characters left unlinked."""
        for _ in range(MAX_PASSES):
            still = [item for item in pending if not self._try_exact_strategies(item, ambiguous)]
            linked_this_pass = len(still) < len(pending)
            pending = still
            if not linked_this_pass:
                break
        return pending

    def _try_exact_strategies(self, item: _Prepared, ambiguous: set[int]) -> bool:
        stats = self.plan.stats
        attempts = (
            ("exact", lambda: self._exact(item), LinkSource.EXACT_NAME_MATCH, Confidence.HIGH),
            (
                "guild_note",
                lambda: self._notes(item, item.guild_hints),
                LinkSource.GUILD_NOTE,
                Confidence.HIGH,
            ),
            (
                "officer_note",
                lambda: self._notes(item, item.officer_hints),
                LinkSource.OFFICER_NOTE,
                Confidence.HIGH,
            ),
            ("token", lambda: self._token(item), LinkSource.EXACT_NAME_MATCH, Confidence.MEDIUM),
        )
        for stat, strategy, source, confidence in attempts:
            outcome = strategy()
            if outcome.ambiguous:
                ambiguous.add(item.row.id)
            if outcome.target is None:
                continue
            linked = self._link_character(
                item.row,
                outcome.target,
                source,
                confidence,
                confirmed=confidence == Confidence.HIGH,
                strategy=stat,
                main_hints=outcome.main_hints,
            )
            if linked:
                setattr(stats, stat, getattr(stats, stat) + 1)
                return True
        return False

    def _promote_named_mains(self) -> None:
        """A member without a main gets the character its alts' notes name as their main, once
        everything of this run is linked (in an alt chain the main is often linked last)."""
        for character_id, member_ref, hints in self.named_mains:
            if member_ref in self.members_with_main:
                continue
            for name, realm in hints:
                named = [
                    c
                    for c in self._linked_characters(key(name), realm, exclude=character_id)
                    if self.character_member[c.id] == member_ref and c.id not in self.known_alts
                ]
                if named:
                    self.plan.promote_to_main.append((named[0].id, member_ref))
                    self.members_with_main.add(member_ref)
                    break

    # ----------------------------------------------------------------------- B5
    def _fuzzy(self, pending: list[_Prepared], ambiguous: set[int]) -> bool:
        """Global greedy assignment of near-miss names: best pairs first, each character and
        account used once; a tie at a character's best score links nothing. True when it
        linked a character."""
        return self._assign_greedily(self._fuzzy_pairs(pending), ambiguous)

    def _fuzzy_pairs(self, pending: list[_Prepared]) -> list[tuple[float, int, int]]:
        """(score, character id, account id) of every allowed pair at or above the suggestion
        threshold, best first. Accounts qualify while unlinked or linked to a member without
        an in-guild character (role sync creates such members for every guild-role holder)."""
        characters = [item for item in pending if len(item.key) >= MIN_FUZZY_KEY]
        accounts = [
            a
            for a in self.present
            if self.account_member[a.id] is None
            or self.account_member[a.id] not in self.members_in_guild
        ]
        name_keys: list[str] = []
        name_owner: list[int] = []
        for account in accounts:
            for name_key in dict.fromkeys(
                key(n) for n in (account.username, account.nickname, account.global_name)
            ):
                if len(name_key) >= MIN_FUZZY_KEY:
                    name_keys.append(name_key)
                    name_owner.append(account.id)
        if not characters or not name_keys:
            return []
        best: dict[tuple[int, int], float] = {}
        for i, j, score in similar_pairs(
            [item.key for item in characters], name_keys, threshold=self.fuzzy_suggest
        ):
            pair = (characters[i].row.id, name_owner[j])
            if score > best.get(pair, 0.0):
                best[pair] = score
        scored = [
            (score, character_id, account_id)
            for (character_id, account_id), score in best.items()
            if self._allowed(character_id, self._account_target(account_id), account_id)
            and issue_hash(IssueType.AUTO_LINK_SUGGESTION, character_id, account_id)
            not in self.snapshot.ignored_hashes
        ]
        scored.sort(key=lambda item: (-item[0], item[1], item[2]))
        return scored

    def _assign_greedily(self, scored: list[tuple[float, int, int]], ambiguous: set[int]) -> bool:
        """Link (or suggest) pairs best first; True when a character was linked."""
        by_character: dict[int, list[tuple[float, int]]] = defaultdict(list)
        by_account: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for score, character_id, account_id in scored:
            by_character[character_id].append((score, account_id))
            by_account[account_id].append((score, character_id))
        done_characters: set[int] = set()
        used_accounts: set[int] = set()
        linked_any = False
        for score, character_id, account_id in scored:
            if character_id in done_characters or account_id in used_accounts:
                continue
            # Pairs are visited best first, so every free account at this score is as good as
            # this one for the character, and every undecided character at this score has this
            # account as its best: more than one target, or more than one character, is a tie.
            level = [
                a for s, a in by_character[character_id] if s == score and a not in used_accounts
            ]
            rivals = [
                c
                for s, c in by_account[account_id]
                if s == score and c != character_id and c not in done_characters
            ]
            targets = {self._account_target(a) for a in level}
            done_characters.add(character_id)
            if len(targets) > 1 or rivals:
                ambiguous.add(character_id)
                for tied in level:
                    self._suggest(character_id, tied, score)
                    used_accounts.add(tied)
                for rival in rivals:
                    ambiguous.add(rival)
                    done_characters.add(rival)
                    self._suggest(rival, account_id, score)
                continue
            used_accounts.update(level)
            if score >= self.fuzzy_auto_link:
                linked = self._link_character(
                    self.characters[character_id],
                    self._account_target(account_id),
                    LinkSource.FUZZY_MATCH,
                    Confidence.MEDIUM,
                    confirmed=False,
                    strategy="fuzzy",
                )
                if linked:
                    self.plan.stats.fuzzy += 1
                    linked_any = True
                    continue
            self._suggest(character_id, account_id, score)
        return linked_any

    def _suggest(self, character_id: int, account_id: int, score: float) -> None:
        member_ref = self.account_member[account_id]
        self.plan.suggestions.append(
            PlannedSuggestion(
                character_id=character_id,
                account_id=account_id,
                score=score,
                member_id=member_ref if member_ref is not None and member_ref > 0 else None,
            )
        )


def plan_matching(
    snapshot: Snapshot,
    *,
    fuzzy_auto_link: float = FUZZY_AUTO_LINK,
    fuzzy_suggest: float = FUZZY_SUGGEST,
) -> Plan:
    """Decide every link, member creation and suggestion of one run (stats included; the
    `suggestions` stat is left for the engine, which knows which suggestions are new)."""
    if not 0 < fuzzy_suggest <= fuzzy_auto_link <= 1:
        raise ValueError("need 0 < fuzzy_suggest <= fuzzy_auto_link <= 1")
    planner = _Planner(snapshot, fuzzy_auto_link=fuzzy_auto_link, fuzzy_suggest=fuzzy_suggest)
    planner.link_accounts_to_members()
    planner.link_characters()
    return planner.plan
