"""A deterministic, labelled synthetic guild for matching benchmarks and quality tests.

`generate_guild(characters=5000, accounts=5000)` builds people with a main, alts and a Discord
account, in the mix of the identity chapter's benchmark:

- 30 % of characters are mains whose name equals one of their account's names (username,
  global name, nickname, or a word of a "Handle (Main)" nickname), accents included;
- 10 % carry note hints: alts naming their main ("alt of X", "X's alt", "main: X-Realm"),
  alt-of-alt chains, and mains whose note gives their Discord name;
- 10 % are near-miss names of their account (one edit; a few two edits, which only reach
  the suggestion level);
- the rest is noise nobody could match: people whose Discord name has nothing to do with
  their characters (and their alts), and characters of people who are not on Discord.

Every generated name is far from every other (Indel similarity < 0.70), so the only pairs a
matcher should find are the ones planted on purpose. The result carries the ground truth:
which person owns each character and account, which characters are discoverable, and which
main each alt belongs to. Same seed, same guild.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy
from rapidfuzz import fuzz, process
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sv_common.db.models import Character, DiscordMember, GuildMember, GuildRank

SEED = 20260301
REALMS = ("senjin", "senjin", "senjin", "senjin", "area-52", "bleeding-hollow")
REALM_NAMES = {"senjin": "Senjin", "area-52": "Area52", "bleeding-hollow": "BleedingHollow"}
RANK_NAMES = ("Guild Leader", "Officer", "Veteran", "Member", "Initiate")
RANK_WEIGHTS = (1, 12, 25, 45, 17)
CLASSES = ("Death Knight", "Druid", "Hunter", "Mage", "Paladin", "Priest", "Rogue", "Shaman")
_ONSETS = (
    "b br c d dr f g gr h j k kr l m n p r s st t th v w z sh ch qu sk tr vr bl cl fl gl pl sl"
    " sm sn sp sw"
).split()
_VOWELS = "a e i o u ae ia ou y ei ai au".split()
_CODAS = ["", "n", "r", "th", "s", "l", "m", "x", "nd", "rk", "sh", "g", "k", "t", "d"]
_ACCENTS = {"a": "á", "e": "ë", "i": "í", "o": "ö", "u": "ü", "n": "ñ"}
# Any two generated names score below the suggestion threshold, so a one-letter near miss of a
# name can never come within auto-link distance of another person's name.
SEPARATION = 70
BATCH = 1000
MAX_LENGTH = 13


@dataclass
class SyntheticCharacter:
    """A character row with its ground truth."""

    name: str
    realm_slug: str
    character_class: str
    game_rank: int
    last_login_days: int
    guild_note: str | None = None
    officer_note: str | None = None
    person: int = -1
    main: int | None = None  # index of the person's main character (None for mains)
    kind: str = "noise"  # exact, near, near2, hint, alt, chain, noise, noise_alt, offline
    discoverable: bool = False


@dataclass
class SyntheticAccount:
    """A Discord account row with its ground truth."""

    discord_id: str
    username: str
    global_name: str | None = None
    nickname: str | None = None
    highest_guild_role: str | None = None
    is_present: bool = True
    person: int | None = None

    @property
    def display_name(self) -> str:
        return self.nickname or self.global_name or self.username


@dataclass
class SyntheticGuild:
    """Characters, accounts and extra members (no Discord account, unrelated names)."""

    characters: list[SyntheticCharacter] = field(default_factory=list)
    accounts: list[SyntheticAccount] = field(default_factory=list)
    extra_members: list[str] = field(default_factory=list)

    def alts(self) -> list[tuple[int, int]]:
        """(alt index, main index) for every alt of a discoverable main."""
        return [
            (index, c.main)
            for index, c in enumerate(self.characters)
            if c.main is not None and self.characters[c.main].discoverable
        ]


def _candidate(rng: random.Random) -> str:
    syllables = rng.choice((3, 3, 4))
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)]
    return "".join(parts) + rng.choice(_CODAS)


def name_pool(
    rng: random.Random, count: int, *, min_length: int = 7, separation: int = SEPARATION
) -> list[str]:
    """`count` distinct lower-case names, every pair below `separation` percent similarity.

    New candidates are checked in cdist blocks against everything accepted so far (no Python
    double loop); a candidate too close to an accepted one is dropped.
    """
    accepted: list[str] = []
    seen: set[str] = set()
    while len(accepted) < count:
        batch: list[str] = []
        while len(batch) < BATCH:
            name = _candidate(rng)
            if min_length <= len(name) <= MAX_LENGTH and name not in seen:
                seen.add(name)
                batch.append(name)
        if separation > 100:  # no filtering: look-alike names stay, as in a real guild
            accepted.extend(batch[: count - len(accepted)])
            continue
        known = len(accepted)
        close = (
            process.cdist(
                batch,
                accepted + batch,
                scorer=fuzz.ratio,
                score_cutoff=separation,
                dtype=numpy.uint8,
                workers=-1,
            )
            > 0
        )
        taken = numpy.zeros(len(batch), dtype=bool)
        for row, name in enumerate(batch):
            if close[row, :known].any() or (close[row, known : known + row] & taken[:row]).any():
                continue
            taken[row] = True
            accepted.append(name)
            if len(accepted) == count:
                break
    return accepted


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _accented(rng: random.Random, name: str) -> str:
    positions = [i for i, ch in enumerate(name) if ch in _ACCENTS and i > 0]
    if not positions:
        return name
    i = rng.choice(positions)
    return name[:i] + _ACCENTS[name[i]] + name[i + 1 :]


def _one_edit(rng: random.Random, name: str) -> str:
    """A near-miss spelling: one letter doubled, dropped, changed, or added at the end."""
    i = rng.randrange(1, len(name))
    choice = rng.randrange(4)
    letters = "aeiourlnst"
    if choice == 0:
        return name[:i] + name[i] + name[i:]
    if choice == 1:
        return name[:i] + name[i + 1 :]
    if choice == 2:
        replacement = rng.choice([c for c in letters if c != name[i]])
        return name[:i] + replacement + name[i + 1 :]
    return name + rng.choice(letters)


def _dotted(rng: random.Random, base: str) -> str:
    """The same name with a dot or underscore inside ("stone.hoof"): an equal key."""
    cut = rng.randrange(2, len(base) - 1)
    return base[:cut] + rng.choice("._") + base[cut:]


def _handle(rng: random.Random, base: str) -> str:
    """A Discord username made from a pool name (dots, underscores or digits sometimes)."""
    style = rng.randrange(6)
    if style == 0 and len(base) > 6:
        cut = rng.randrange(3, len(base) - 2)
        return base[:cut] + rng.choice("._") + base[cut:]
    if style == 1:
        return base + str(rng.randrange(10, 99))
    return base


@dataclass
class _Counts:
    """How many characters and accounts of each kind a guild of this size gets."""

    exact: int
    near: int
    hint_mains: int
    alts: int
    chain: int
    noise_mains: int
    noise_alts: int
    offline: int
    outsiders: int

    @classmethod
    def for_size(cls, characters: int, accounts: int) -> _Counts:
        exact = round(characters * 0.30)
        near = round(characters * 0.10)
        hints = round(characters * 0.10)
        noise = characters - exact - near - hints
        noise_mains = round(noise * 0.6)
        noise_alts = round(noise * 0.2)
        return cls(
            exact=exact,
            near=near,
            hint_mains=hints // 5,
            alts=hints - 2 * (hints // 5),
            chain=hints // 5,
            noise_mains=noise_mains,
            noise_alts=noise_alts,
            offline=noise - noise_mains - noise_alts,
            outsiders=max(0, accounts - (exact + near + hints // 5 + noise_mains)),
        )

    @property
    def names_needed(self) -> int:
        """Character names plus the handles of people whose username is not their name."""
        characters = (
            self.exact + self.near + self.hint_mains + self.alts + self.chain
            + self.noise_mains + self.noise_alts + self.offline
        )  # fmt: skip
        return characters + self.exact + self.hint_mains + self.noise_mains + self.outsiders


class _Builder:
    """Adds people to a guild, one kind at a time, drawing names from a separated pool."""

    def __init__(self, rng: random.Random, names: list[str]) -> None:
        self.rng = rng
        self.pool = iter(names)
        self.guild = SyntheticGuild()
        self.snowflake = 500000000000000000
        self.person = 0
        self.discoverable_mains: list[int] = []
        self.alts: list[int] = []
        self.noise_mains: list[int] = []

    def name(self) -> str:
        return next(self.pool)

    def new_person(self) -> int:
        self.person += 1
        return self.person

    def account(self, username: str, person: int | None, **kw: object) -> None:
        self.snowflake += 1
        self.guild.accounts.append(
            SyntheticAccount(
                discord_id=str(self.snowflake),
                username=username,
                person=person,
                **kw,  # type: ignore[arg-type]
            )
        )

    def character(self, name: str, person: int, kind: str, **kw: object) -> int:
        rng = self.rng
        game_rank = rng.choices(range(5), weights=RANK_WEIGHTS)[0]
        days = rng.randint(0, 25) if rng.random() < 0.8 else rng.randint(31, 200)
        self.guild.characters.append(
            SyntheticCharacter(
                name=name,
                realm_slug=rng.choice(REALMS),
                character_class=rng.choice(CLASSES),
                game_rank=game_rank,
                last_login_days=days,
                person=person,
                kind=kind,
                **kw,  # type: ignore[arg-type]
            )
        )
        return len(self.guild.characters) - 1

    def role_for(self, character_index: int) -> str | None:
        """The Discord guild role of a main's owner: mostly its in-game rank, sometimes none,
        now and then one rank off."""
        if self.rng.random() < 0.15:
            return None
        rank = self.guild.characters[character_index].game_rank
        if self.rng.random() < 0.05:
            rank = min(4, rank + 1)
        return RANK_NAMES[rank]

    def exact_people(self, count: int) -> None:
        """Mains named like the username, the global name, the nickname, or a nickname word."""
        for _ in range(count):
            person, base = self.new_person(), self.name()
            accented = _accented(self.rng, base) if self.rng.random() < 0.15 else base
            main = self.character(_title(accented), person, "exact", discoverable=True)
            role = self.role_for(main)
            style = self.rng.randrange(5)
            if style == 0:
                self.account(base, person, highest_guild_role=role)
            elif style == 1:
                self.account(_dotted(self.rng, base), person, highest_guild_role=role)
            else:
                handle = self.name()
                shown = {
                    2: {"global_name": _title(base)},
                    3: {"nickname": _title(base)},
                    4: {"nickname": f"{_title(handle)} ({self.guild.characters[main].name})"},
                }[style]
                self.account(handle, person, highest_guild_role=role, **shown)
            self.discoverable_mains.append(main)

    def near_people(self, count: int) -> None:
        """Mains one edit away from the username; every tenth two edits (a suggestion)."""
        for number in range(count):
            person, base = self.new_person(), self.name()
            spelled = _one_edit(self.rng, base)
            kind = "near"
            if number % 10 == 9:
                spelled, kind = _one_edit(self.rng, spelled), "near2"
            main = self.character(_title(spelled), person, kind, discoverable=kind == "near")
            self.account(base, person, highest_guild_role=self.role_for(main))
            if kind == "near":
                self.discoverable_mains.append(main)

    def hint_people(self, count: int) -> None:
        """Mains with an unrelated name whose note gives their Discord name."""
        for _ in range(count):
            person, handle = self.new_person(), self.name()
            note = self.rng.choice(("DC: {}", "Discord: @{}", "@{}", "disc={}")).format(handle)
            in_officer_note = self.rng.random() < 0.5
            main = self.character(
                _title(self.name()),
                person,
                "hint",
                discoverable=True,
                officer_note=note if in_officer_note else None,
                guild_note=None if in_officer_note else note,
            )
            self.account(handle, person, highest_guild_role=self.role_for(main))
            self.discoverable_mains.append(main)

    def alts_of_mains(self, count: int, chain: int) -> None:
        """Alts whose note names their main, then alts whose note names one of those alts."""
        patterns = ("alt of {}", "{}'s alt", "{}’s alt", "main: {}", "alt of {}-{}")
        for _ in range(count):
            main = self.rng.choice(self.discoverable_mains)
            row = self.guild.characters[main]
            note = self.rng.choice(patterns).format(row.name, REALM_NAMES[row.realm_slug])
            self.alts.append(
                self.character(
                    _title(self.name()),
                    row.person,
                    "alt",
                    main=main,
                    discoverable=True,
                    guild_note=note,
                )
            )
        for _ in range(chain):
            named = self.guild.characters[self.rng.choice(self.alts)]
            self.character(
                _title(self.name()),
                named.person,
                "chain",
                main=named.main,
                discoverable=True,
                guild_note=f"alt of {named.name}",
            )

    def noise(self, mains: int, alts: int, offline: int) -> None:
        """People whose Discord name tells nothing, their alts, and people not on Discord."""
        for _ in range(mains):
            person = self.new_person()
            main = self.character(_title(self.name()), person, "noise")
            handle = _handle(self.rng, self.name())
            self.account(handle, person, highest_guild_role=self.role_for(main))
            self.noise_mains.append(main)
        for _ in range(alts):
            main = self.rng.choice(self.noise_mains)
            row = self.guild.characters[main]
            self.character(
                _title(self.name()),
                row.person,
                "noise_alt",
                main=main,
                guild_note=f"alt of {row.name}",
            )
        for _ in range(offline):
            self.character(_title(self.name()), self.new_person(), "offline")

    def outsiders(self, count: int) -> None:
        """Discord users outside the guild (a few already left the server)."""
        for _ in range(count):
            handle = _handle(self.rng, self.name())
            self.account(handle, None, is_present=self.rng.random() > 0.03)

    def shuffled(self) -> SyntheticGuild:
        """The guild with characters and accounts in no meaningful order (as the database
        sees them), alt → main references kept."""
        guild = self.guild
        order = list(range(len(guild.characters)))
        self.rng.shuffle(order)
        position = {old: new for new, old in enumerate(order)}
        guild.characters = [guild.characters[old] for old in order]
        for row in guild.characters:
            if row.main is not None:
                row.main = position[row.main]
        self.rng.shuffle(guild.accounts)
        return guild


def generate_guild(
    characters: int = 5000,
    accounts: int = 5000,
    *,
    seed: int = SEED,
    extra_members: int = 900,
    separation: int = SEPARATION,
) -> SyntheticGuild:
    """The labelled guild; sizes scale the benchmark mix proportionally. `separation=101`
    keeps accidental look-alike names between unrelated people (no filtering)."""
    rng = random.Random(seed)
    counts = _Counts.for_size(characters, accounts)
    names = name_pool(rng, counts.names_needed + extra_members, separation=separation)
    builder = _Builder(rng, names)
    builder.exact_people(counts.exact)
    builder.near_people(counts.near)
    builder.hint_people(counts.hint_mains)
    builder.alts_of_mains(counts.alts, counts.chain)
    builder.noise(counts.noise_mains, counts.noise_alts, counts.offline)
    builder.outsiders(counts.outsiders)
    builder.guild.extra_members = [builder.name() for _ in range(extra_members)]
    return builder.shuffled()


def last_login_offset(character: SyntheticCharacter) -> timedelta:
    """How long before "now" the character last logged in."""
    return timedelta(days=character.last_login_days, hours=3)


# ------------------------------------------------------------------------- database side
@dataclass
class Quality:
    """How a matching run did against the ground truth."""

    linked: int
    correct: int
    discoverable: int
    discovered: int
    alts: int
    alts_grouped: int

    @property
    def precision(self) -> float:
        """Share of linked characters that went to the right person."""
        return self.correct / self.linked if self.linked else 1.0

    @property
    def recall(self) -> float:
        """Share of discoverable characters linked to the right person."""
        return self.discovered / self.discoverable if self.discoverable else 1.0


async def load_guild(session: AsyncSession, guild: SyntheticGuild, *, now: datetime) -> None:
    """Write the guild's accounts, characters and extra members (bulk inserts, nothing
    linked), as a first Discord sync and a first Blizzard sync would leave them."""
    lowest = await session.scalar(select(GuildRank.id).order_by(GuildRank.level).limit(1))
    if lowest is None:
        raise RuntimeError("seed the ranks first")
    await session.execute(
        insert(DiscordMember),
        [
            {
                "discord_id": a.discord_id,
                "username": a.username,
                "global_name": a.global_name,
                "nickname": a.nickname,
                "display_name": a.display_name,
                "highest_guild_role": a.highest_guild_role,
                "all_guild_roles": [a.highest_guild_role] if a.highest_guild_role else [],
                "is_present": a.is_present,
                "removed_at": None if a.is_present else now,
            }
            for a in guild.accounts
        ],
    )
    await session.execute(
        insert(Character),
        [
            {
                "name": c.name,
                "realm_slug": c.realm_slug,
                "character_class": c.character_class,
                "game_rank": c.game_rank,
                "game_rank_name": RANK_NAMES[c.game_rank],
                "guild_note": c.guild_note,
                "officer_note": c.officer_note,
                "last_login_at": now - last_login_offset(c),
                "origin": "blizzard_sync",
                "level": 80,
            }
            for c in guild.characters
        ],
    )
    if guild.extra_members:
        await session.execute(
            insert(GuildMember),
            [
                {"display_name": _title(name), "discord_username": name, "rank_id": lowest}
                for name in guild.extra_members
            ],
        )


async def evaluate(session: AsyncSession, guild: SyntheticGuild) -> Quality:
    """Compare the database's links with the ground truth (two queries)."""
    character_member = {
        (name.lower(), realm): member_id
        for name, realm, member_id in (
            await session.execute(select(Character.name, Character.realm_slug, Character.member_id))
        ).all()
    }
    person_of_account = {a.discord_id: a.person for a in guild.accounts}
    member_people: dict[int, set[int]] = {}
    for discord_id, member_id in (
        await session.execute(
            select(DiscordMember.discord_id, DiscordMember.member_id).where(
                DiscordMember.member_id.is_not(None)
            )
        )
    ).all():
        person = person_of_account.get(discord_id)
        if person is not None:
            member_people.setdefault(member_id, set()).add(person)
    members = [character_member[(c.name.lower(), c.realm_slug)] for c in guild.characters]
    linked = correct = discovered = 0
    for character, member_id in zip(guild.characters, members, strict=True):
        if member_id is None:
            continue
        linked += 1
        if character.person in member_people.get(member_id, set()):
            correct += 1
            if character.discoverable:
                discovered += 1
    alts = guild.alts()
    grouped = sum(
        1 for alt, main in alts if members[alt] is not None and members[alt] == members[main]
    )
    return Quality(
        linked=linked,
        correct=correct,
        discoverable=sum(1 for c in guild.characters if c.discoverable),
        discovered=discovered,
        alts=len(alts),
        alts_grouped=grouped,
    )
