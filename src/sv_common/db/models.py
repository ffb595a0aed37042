"""SQLAlchemy models for the three schemas (`common`, `patt`, `guild_identity`); they mirror
migration 0001 exactly (a test compares them with the migrated database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CHAR, JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sv_common.db.enums import (
    CampaignOutcome,
    CampaignStatus,
    CampaignType,
    CharacterOrigin,
    CloseReason,
    Confidence,
    ContestEvent,
    CountingMethod,
    DayOfWeek,
    IssueType,
    LinkSource,
    MainAlt,
    RankSource,
    Role,
    Severity,
    SyncSource,
    SyncStatus,
    check_in,
    values,
)

TZ = DateTime(timezone=True)

# Value tuples kept for readers that iterate them (demo loader, benchmarks).
ROLES = values(Role)
MAIN_ALT = values(MainAlt)
RANK_SOURCES = values(RankSource)
CHARACTER_ORIGINS = values(CharacterOrigin)
CAMPAIGN_STATUSES = values(CampaignStatus)
CAMPAIGN_TYPES = values(CampaignType)
CLOSE_REASONS = values(CloseReason)
COUNTING_METHODS = values(CountingMethod)
DAYS_OF_WEEK = values(DayOfWeek)
CONTEST_EVENTS = values(ContestEvent)
LINK_SOURCES = values(LinkSource)
CONFIDENCES = values(Confidence)
ISSUE_TYPES = values(IssueType)
SEVERITIES = values(Severity)  # importance order, lowest first
SYNC_SOURCES = values(SyncSource)
SYNC_STATUSES = values(SyncStatus)


def _created() -> Mapped[datetime]:
    return mapped_column(TZ, nullable=False, server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(TZ, nullable=False, server_default=func.now())


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


# ---------------------------------------------------------------------------------- common
class GuildRank(Base):
    """A guild rank; `level` drives every permission comparison."""

    __tablename__ = "guild_ranks"
    __table_args__ = (
        UniqueConstraint("level", name="uq_guild_ranks_level"),
        CheckConstraint("level >= 1", name="ck_guild_ranks_level"),
        Index("uq_guild_ranks_name_lower", text("lower(name)"), unique=True),
        Index(
            "uq_guild_ranks_discord_role_id",
            "discord_role_id",
            unique=True,
            postgresql_where=text("discord_role_id IS NOT NULL"),
        ),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    discord_role_id: Mapped[str | None] = mapped_column(String(25))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class User(Base):
    """Authentication record (password hash) of a registered member."""

    __tablename__ = "users"
    __table_args__ = (
        Index(
            "uq_users_email_lower",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("email IS NOT NULL"),
        ),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    last_login_at: Mapped[datetime | None] = mapped_column(TZ)
    # Raised (by triggers and on logout) to sign the user out everywhere: tokens carry the
    # version they were issued under and stop working when it changes.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class GuildMember(Base):
    """A person in the guild (the one person model)."""

    __tablename__ = "guild_members"
    __table_args__ = (
        UniqueConstraint("user_id", name="uq_guild_members_user_id"),
        UniqueConstraint("discord_id", name="uq_guild_members_discord_id"),
        CheckConstraint(check_in("rank_source", RankSource), name="ck_guild_members_rank_source"),
        Index(
            "uq_guild_members_discord_username_lower",
            text("lower(discord_username)"),
            unique=True,
            postgresql_where=text("discord_username IS NOT NULL"),
        ),
        Index("ix_guild_members_rank_id", "rank_id"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.users.id", ondelete="SET NULL")
    )
    discord_id: Mapped[str | None] = mapped_column(String(25))
    discord_username: Mapped[str | None] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    rank_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_ranks.id", ondelete="RESTRICT"), nullable=False
    )
    rank_source: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'manual'")
    )
    on_raid_roster: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    notes: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime | None] = mapped_column(TZ)
    last_seen_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    rank: Mapped[GuildRank] = relationship(lazy="raise")
    user: Mapped[User | None] = relationship(lazy="raise")
    characters: Mapped[list[Character]] = relationship(back_populates="member", lazy="raise")


class Character(Base):
    """A WoW character (the only character table); `member_id` NULL = unlinked."""

    __tablename__ = "characters"
    __table_args__ = (
        CheckConstraint(check_in("role", Role), name="ck_characters_role"),
        CheckConstraint(check_in("main_alt", MainAlt), name="ck_characters_main_alt"),
        CheckConstraint(check_in("origin", CharacterOrigin), name="ck_characters_origin"),
        Index("uq_characters_name_realm", text("lower(name)"), "realm_slug", unique=True),
        # one current main per member, checked at commit (migration 0003)
        ExcludeConstraint(
            ("member_id", "="),
            name="ex_characters_one_main",
            using="btree",
            where=text("main_alt = 'main' AND member_id IS NOT NULL AND removed_at IS NULL"),
            deferrable=True,
            initially="DEFERRED",
        ),
        Index(
            "uq_characters_blizzard_id",
            "blizzard_id",
            unique=True,
            postgresql_where=text("blizzard_id IS NOT NULL"),
        ),
        Index("ix_characters_member_id", "member_id"),
        Index("ix_characters_game_rank", "game_rank"),
        Index("ix_characters_removed_at", "removed_at"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    realm_slug: Mapped[str] = mapped_column(String(50), nullable=False)
    realm_name: Mapped[str | None] = mapped_column(String(100))
    character_class: Mapped[str | None] = mapped_column("class", String(30))
    spec: Mapped[str | None] = mapped_column(String(30))
    active_spec: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(20))
    main_alt: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'alt'"))
    armory_url: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(20), nullable=False, server_default=text("'manual'"))
    blizzard_id: Mapped[int | None] = mapped_column(BigInteger)
    level: Mapped[int | None] = mapped_column(Integer)
    item_level: Mapped[int | None] = mapped_column(Integer)
    game_rank: Mapped[int | None] = mapped_column(Integer)
    game_rank_name: Mapped[str | None] = mapped_column(String(50))
    last_login_at: Mapped[datetime | None] = mapped_column(TZ)
    blizzard_last_sync: Mapped[datetime | None] = mapped_column(TZ)
    guild_note: Mapped[str | None] = mapped_column(Text)
    officer_note: Mapped[str | None] = mapped_column(Text)
    addon_last_seen: Mapped[datetime | None] = mapped_column(TZ)
    addon_last_sync: Mapped[datetime | None] = mapped_column(TZ)
    removed_at: Mapped[datetime | None] = mapped_column(TZ)
    first_seen: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = _updated()

    member: Mapped[GuildMember | None] = relationship(back_populates="characters", lazy="raise")


class DiscordConfig(Base):
    """The single-row Discord configuration."""

    __tablename__ = "discord_config"
    __table_args__ = (
        CheckConstraint("id = 1", name="ck_discord_config_single_row"),
        CheckConstraint("role_sync_interval_hours >= 1", name="ck_discord_config_interval"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, server_default=text("1"), autoincrement=False
    )
    guild_discord_id: Mapped[str] = mapped_column(String(25), nullable=False)
    role_sync_interval_hours: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("24")
    )
    default_announcement_channel_id: Mapped[str | None] = mapped_column(String(25))
    audit_channel_id: Mapped[str | None] = mapped_column(String(25))
    last_role_sync_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class ThrottleHits(Base):
    """The latest hits of one key of one throttle, shared by every app process."""

    __tablename__ = "throttle_hits"
    __table_args__ = (
        Index("ix_throttle_hits_expires_at", "expires_at"),
        {"schema": "common"},
    )

    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    hits: Mapped[list[datetime]] = mapped_column(ARRAY(TZ), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class SetupToken(Base):
    """The hash of the one-time setup link while no Guild Leader exists (single row)."""

    __tablename__ = "setup_token"
    __table_args__ = (
        CheckConstraint("id = 1", name="ck_setup_token_single_row"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, server_default=text("1"), autoincrement=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _created()


class InviteCode(Base):
    """A one-time registration code bound to one member."""

    __tablename__ = "invite_codes"
    __table_args__ = (
        UniqueConstraint("code", name="uq_invite_codes_code"),
        Index("ix_invite_codes_member_created", "member_id", "created_at"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="CASCADE"), nullable=False
    )
    created_by: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(TZ)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = _created()


class MemberAvailability(Base):
    """One day of a member's weekly availability (seven rows or none per member)."""

    __tablename__ = "member_availability"
    __table_args__ = (
        UniqueConstraint("member_id", "day_of_week", name="uq_member_day"),
        CheckConstraint(check_in("day_of_week", DayOfWeek), name="ck_member_availability_day"),
        {"schema": "common"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="CASCADE"), nullable=False
    )
    day_of_week: Mapped[str] = mapped_column(String(10), nullable=False)
    available: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    notes: Mapped[str | None] = mapped_column(Text)
    auto_signup: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    wants_reminders: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    updated_at: Mapped[datetime] = _updated()


# ------------------------------------------------------------------------------------ patt
class Campaign(Base):
    """A vote: entries, rules, schedule and status."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(check_in("type", CampaignType), name="ck_campaigns_type"),
        CheckConstraint("picks_per_voter BETWEEN 1 AND 10", name="ck_campaigns_picks"),
        CheckConstraint("duration_hours BETWEEN 1 AND 8760", name="ck_campaigns_duration"),
        CheckConstraint(check_in("status", CampaignStatus), name="ck_campaigns_status"),
        CheckConstraint(check_in("close_reason", CloseReason), name="ck_campaigns_close_reason"),
        CheckConstraint(
            check_in("counting_method", CountingMethod), name="ck_campaigns_counting_method"
        ),
        # migration 0007: approval campaigns are counted by approvals, and only they are
        CheckConstraint(
            "(type = 'approval') = (counting_method = 'approval')",
            name="ck_campaigns_approval_counting",
        ),
        CheckConstraint(check_in("outcome", CampaignOutcome), name="ck_campaigns_outcome"),
        CheckConstraint(
            "quorum_percent IS NULL OR quorum_percent BETWEEN 1 AND 100",
            name="ck_campaigns_quorum_percent",
        ),
        CheckConstraint(
            "ballot_digest IS NULL OR ballot_digest ~ '^[0-9a-f]{64}$'",
            name="ck_campaigns_ballot_digest",
        ),
        CheckConstraint(
            "min_rank_to_view IS NULL OR min_rank_to_view <= min_rank_to_vote",
            name="ck_campaigns_view_le_vote",
        ),
        Index("ix_campaigns_status_start", "status", "start_at"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'ranked_choice'")
    )
    picks_per_voter: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("3"))
    min_rank_to_vote: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("common.guild_ranks.level", onupdate="CASCADE", ondelete="RESTRICT"),
        nullable=False,
    )
    min_rank_to_view: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_ranks.level", onupdate="CASCADE", ondelete="RESTRICT")
    )
    start_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    duration_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default=text("'draft'"))
    early_close_if_all_voted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("true")
    )
    discord_channel_id: Mapped[str | None] = mapped_column(String(25))
    created_by: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    activated_at: Mapped[datetime | None] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    close_reason: Mapped[str | None] = mapped_column(String(20))
    counting_method: Mapped[str] = mapped_column(
        String(20), nullable=False, server_default=text("'weighted'")
    )  # migration 0002 (40 §9.3)
    # Options of migration 0004 (40 §9.5): who may vote is fixed at activation; the minimum
    # turnout (percent of eligible voters) for a declared result; changing a ballot until close.
    eligibility_snapshot: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    quorum_percent: Mapped[int | None] = mapped_column(Integer)
    allow_vote_change: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    # The audit snapshot taken in the closing transaction (migration 0004, 40 §9.2); all null
    # until the campaign closes (and for campaigns closed before the migration).
    outcome: Mapped[str | None] = mapped_column(String(20))
    eligible_count_at_close: Mapped[int | None] = mapped_column(Integer)
    ballot_count_at_close: Mapped[int | None] = mapped_column(Integer)
    audit_method: Mapped[str | None] = mapped_column(String(20))
    point_table: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    ballot_digest: Mapped[str | None] = mapped_column(String(64))
    audit_calculated_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    entries: Mapped[list[CampaignEntry]] = relationship(
        back_populates="campaign",
        lazy="raise",
        order_by="(CampaignEntry.sort_order, CampaignEntry.id)",
    )


class CampaignEntry(Base):
    """One option in a campaign (usually an image)."""

    __tablename__ = "campaign_entries"
    __table_args__ = (
        Index("ix_campaign_entries_campaign_sort", "campaign_id", "sort_order"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    associated_member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()

    campaign: Mapped[Campaign] = relationship(back_populates="entries", lazy="raise")


class Ballot(Base):
    """One member's complete submission in one campaign."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("campaign_id", "member_id", name="uq_ballot_campaign_member"),
        UniqueConstraint("campaign_id", "receipt", name="uq_ballot_campaign_receipt"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), nullable=False
    )
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="RESTRICT"), nullable=False
    )
    cast_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    # The voter's receipt code (e.g. `7F3K-Q9PA`, migration 0004): published with the anonymised
    # ballot list after close so the voter can find their ballot.
    receipt: Mapped[str] = mapped_column(
        String(9), nullable=False, server_default=text("patt.new_ballot_receipt()")
    )


class CampaignEligibleVoter(Base):
    """Who may vote in a campaign with `eligibility_snapshot`, fixed when it went live."""

    __tablename__ = "campaign_eligible_voters"
    __table_args__ = ({"schema": "patt"},)

    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="CASCADE"), primary_key=True
    )


class Vote(Base):
    """One pick of a ballot."""

    __tablename__ = "votes"
    __table_args__ = (
        CheckConstraint("rank >= 1", name="ck_votes_rank"),
        UniqueConstraint("campaign_id", "member_id", "rank", name="uq_votes_campaign_member_rank"),
        UniqueConstraint(
            "campaign_id", "member_id", "entry_id", name="uq_votes_campaign_member_entry"
        ),
        Index("ix_votes_campaign_entry", "campaign_id", "entry_id"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ballot_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.ballots.id", ondelete="CASCADE"), nullable=False
    )
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), nullable=False
    )
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="RESTRICT"), nullable=False
    )
    entry_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaign_entries.id", ondelete="RESTRICT"), nullable=False
    )
    rank: Mapped[int] = mapped_column(Integer, nullable=False)
    voted_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())


class CampaignResult(Base):
    """Final results cache, written at close."""

    __tablename__ = "campaign_results"
    __table_args__ = (
        UniqueConstraint("campaign_id", "entry_id", name="uq_campaign_results_campaign_entry"),
        Index("ix_campaign_results_campaign_rank", "campaign_id", "final_rank"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), nullable=False
    )
    entry_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaign_entries.id", ondelete="CASCADE"), nullable=False
    )
    first_place_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    second_place_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    third_place_count: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default=text("0")
    )
    rank_counts: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), nullable=False, server_default=text("'{}'")
    )
    weighted_score: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    final_rank: Mapped[int] = mapped_column(Integer, nullable=False)
    calculated_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    method_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # migration 0002


class ContestAgentLog(Base):
    """Announcer events already posted for a campaign."""

    __tablename__ = "contest_agent_log"
    __table_args__ = (
        CheckConstraint(check_in("event_type", ContestEvent), name="ck_contest_agent_log_event"),
        Index("ix_contest_agent_log_campaign_event", "campaign_id", "event_type"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("patt.campaigns.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(50), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    discord_message_id: Mapped[str | None] = mapped_column(String(25))
    posted_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())


class MitoQuote(Base):
    """A Mito's Corner quote."""

    __tablename__ = "mito_quotes"
    __table_args__ = (
        CheckConstraint("length(btrim(quote)) BETWEEN 1 AND 500", name="ck_mito_quotes_length"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quote: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class MitoTitle(Base):
    """A Mito's Corner title."""

    __tablename__ = "mito_titles"
    __table_args__ = (
        CheckConstraint("length(btrim(title)) BETWEEN 1 AND 200", name="ck_mito_titles_length"),
        {"schema": "patt"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


# -------------------------------------------------------------------------- guild_identity
class DiscordMember(Base):
    """A raw Discord server member (bots are not stored)."""

    __tablename__ = "discord_members"
    __table_args__ = (
        UniqueConstraint("discord_id", name="uq_discord_members_discord_id"),
        Index("ix_discord_members_member_id", "member_id"),
        Index("ix_discord_members_username_lower", text("lower(username)")),
        Index("ix_discord_members_display_name_lower", text("lower(display_name)")),
        {"schema": "guild_identity"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    discord_id: Mapped[str] = mapped_column(String(25), nullable=False)
    username: Mapped[str] = mapped_column(String(50), nullable=False)
    global_name: Mapped[str | None] = mapped_column(String(100))
    nickname: Mapped[str | None] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(100))
    roles: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'")
    )
    highest_guild_role: Mapped[str | None] = mapped_column(String(50))
    all_guild_roles: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'")
    )
    joined_server_at: Mapped[datetime | None] = mapped_column(TZ)
    is_present: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    removed_at: Mapped[datetime | None] = mapped_column(TZ)
    first_seen: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    last_sync: Mapped[datetime | None] = mapped_column(TZ)


class IdentityLink(Base):
    """Why a character or a Discord account belongs to a member."""

    __tablename__ = "identity_links"
    __table_args__ = (
        UniqueConstraint("character_id", name="uq_identity_links_character_id"),
        UniqueConstraint("discord_member_id", name="uq_identity_links_discord_member_id"),
        CheckConstraint(check_in("source", LinkSource), name="ck_identity_links_source"),
        CheckConstraint(check_in("confidence", Confidence), name="ck_identity_links_confidence"),
        CheckConstraint(
            "(character_id IS NULL) <> (discord_member_id IS NULL)",
            name="ck_identity_links_one_target",
        ),
        Index("ix_identity_links_member_id", "member_id"),
        {"schema": "guild_identity"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="CASCADE"), nullable=False
    )
    character_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.characters.id", ondelete="CASCADE")
    )
    discord_member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("guild_identity.discord_members.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(30), nullable=False)
    confidence: Mapped[str] = mapped_column(
        String(10), nullable=False, server_default=text("'high'")
    )
    confirmed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column(TZ)
    created_by: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())


class LinkRejection(Base):
    """A pair an officer un-linked; the engine never re-creates it."""

    __tablename__ = "link_rejections"
    __table_args__ = (
        Index("ix_link_rejections_character_id", "character_id"),
        Index("ix_link_rejections_discord_member_id", "discord_member_id"),
        {"schema": "guild_identity"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    character_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.characters.id", ondelete="CASCADE")
    )
    discord_member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("guild_identity.discord_members.id", ondelete="CASCADE")
    )
    member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="CASCADE")
    )
    rejected_by: Mapped[str | None] = mapped_column(String(100))
    rejected_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())


class AuditIssue(Base):
    """A data-integrity finding from guild sync."""

    __tablename__ = "audit_issues"
    __table_args__ = (
        CheckConstraint(check_in("issue_type", IssueType), name="ck_audit_issues_type"),
        CheckConstraint(check_in("severity", Severity), name="ck_audit_issues_severity"),
        Index(
            "uq_audit_open_issue",
            "issue_hash",
            unique=True,
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_audit_issues_type", "issue_type"),
        Index(
            "ix_audit_issues_unresolved",
            "resolved_at",
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index(
            "ix_audit_issues_unnotified",
            "notified_at",
            postgresql_where=text("notified_at IS NULL AND resolved_at IS NULL"),
        ),
        {"schema": "guild_identity"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_type: Mapped[str] = mapped_column(String(50), nullable=False)
    severity: Mapped[str] = mapped_column(String(10), nullable=False, server_default=text("'info'"))
    character_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.characters.id", ondelete="CASCADE")
    )
    discord_member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("guild_identity.discord_members.id", ondelete="CASCADE")
    )
    member_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("common.guild_members.id", ondelete="SET NULL")
    )
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    issue_hash: Mapped[str] = mapped_column(CHAR(64), nullable=False)
    first_detected: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    last_detected: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    notified_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_at: Mapped[datetime | None] = mapped_column(TZ)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    ignored: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


class SyncLog(Base):
    """One run of a sync step."""

    __tablename__ = "sync_log"
    __table_args__ = (
        CheckConstraint(check_in("source", SyncSource), name="ck_sync_log_source"),
        CheckConstraint(check_in("status", SyncStatus), name="ck_sync_log_status"),
        Index("ix_sync_log_source_started", "source", text("started_at DESC")),
        {"schema": "guild_identity"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(30), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    characters_found: Mapped[int | None] = mapped_column(Integer)
    characters_updated: Mapped[int | None] = mapped_column(Integer)
    characters_new: Mapped[int | None] = mapped_column(Integer)
    characters_removed: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Double)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    triggered_by: Mapped[str | None] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(TZ, nullable=False, server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(TZ)


ALL_TABLES = [table.fullname for table in Base.metadata.sorted_tables]
