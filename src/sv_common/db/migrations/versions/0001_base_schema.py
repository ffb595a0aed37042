"""Base schema: schemas common, patt, guild_identity; every table, constraint, index and trigger (10).

Revision ID: 0001_base_schema
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001_base_schema"
down_revision = None
branch_labels = None
depends_on = None

TABLES_WITH_UPDATED_AT = [
    "common.guild_ranks",
    "common.users",
    "common.guild_members",
    "common.characters",
    "common.discord_config",
    "common.member_availability",
    "patt.campaigns",
    "patt.campaign_entries",
    "patt.mito_quotes",
    "patt.mito_titles",
]

UPGRADE_SQL = r"""
CREATE SCHEMA common;
CREATE SCHEMA patt;
CREATE SCHEMA guild_identity;

-- Keeps updated_at current for every writer, raw SQL included; a writer that sets updated_at
-- itself (the injectable clock, the sheet import's `updated` dates) keeps its value.
CREATE FUNCTION common.set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at = now();
    END IF;
    RETURN NEW;
END;
$$;

-- common ---------------------------------------------------------------------------------
CREATE TABLE common.guild_ranks (
    id              serial PRIMARY KEY,
    name            varchar(50) NOT NULL,
    level           integer NOT NULL,
    discord_role_id varchar(25) NULL,
    description     text NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_guild_ranks_level UNIQUE (level),
    CONSTRAINT ck_guild_ranks_level CHECK (level >= 1)
);
CREATE UNIQUE INDEX uq_guild_ranks_name_lower ON common.guild_ranks (lower(name));
CREATE UNIQUE INDEX uq_guild_ranks_discord_role_id ON common.guild_ranks (discord_role_id)
    WHERE discord_role_id IS NOT NULL;

CREATE TABLE common.users (
    id            serial PRIMARY KEY,
    email         varchar(255) NULL,
    phone         varchar(20) NULL,
    password_hash varchar(255) NOT NULL,
    is_active     boolean NOT NULL DEFAULT true,
    last_login_at timestamptz NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX uq_users_email_lower ON common.users (lower(email)) WHERE email IS NOT NULL;

CREATE TABLE common.guild_members (
    id               serial PRIMARY KEY,
    user_id          integer NULL REFERENCES common.users(id) ON DELETE SET NULL,
    discord_id       varchar(25) NULL,
    discord_username varchar(100) NULL,
    display_name     varchar(100) NOT NULL,
    rank_id          integer NOT NULL REFERENCES common.guild_ranks(id) ON DELETE RESTRICT,
    rank_source      varchar(20) NOT NULL DEFAULT 'manual',
    on_raid_roster   boolean NOT NULL DEFAULT false,
    notes            text NULL,
    registered_at    timestamptz NULL,
    last_seen_at     timestamptz NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_guild_members_user_id UNIQUE (user_id),
    CONSTRAINT uq_guild_members_discord_id UNIQUE (discord_id),
    CONSTRAINT ck_guild_members_rank_source CHECK (rank_source IN ('manual', 'discord_sync'))
);
CREATE UNIQUE INDEX uq_guild_members_discord_username_lower ON common.guild_members (lower(discord_username))
    WHERE discord_username IS NOT NULL;
CREATE INDEX ix_guild_members_rank_id ON common.guild_members (rank_id);

CREATE TABLE common.characters (
    id                 serial PRIMARY KEY,
    member_id          integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    name               varchar(50) NOT NULL,
    realm_slug         varchar(50) NOT NULL,
    realm_name         varchar(100) NULL,
    class              varchar(30) NULL,
    spec               varchar(30) NULL,
    active_spec        varchar(50) NULL,
    role               varchar(20) NULL,
    main_alt           varchar(10) NOT NULL DEFAULT 'alt',
    armory_url         text NULL,
    origin             varchar(20) NOT NULL DEFAULT 'manual',
    blizzard_id        bigint NULL,
    level              integer NULL,
    item_level         integer NULL,
    game_rank          integer NULL,
    game_rank_name     varchar(50) NULL,
    last_login_at      timestamptz NULL,
    blizzard_last_sync timestamptz NULL,
    guild_note         text NULL,
    officer_note       text NULL,
    addon_last_seen    timestamptz NULL,
    addon_last_sync    timestamptz NULL,
    removed_at         timestamptz NULL,
    first_seen         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_characters_role CHECK (role IN ('tank', 'healer', 'melee_dps', 'ranged_dps')),
    CONSTRAINT ck_characters_main_alt CHECK (main_alt IN ('main', 'alt')),
    CONSTRAINT ck_characters_origin CHECK (origin IN
        ('manual', 'roster_form', 'sheet_import', 'blizzard_sync', 'addon', 'demo'))
);
CREATE UNIQUE INDEX uq_characters_name_realm ON common.characters (lower(name), realm_slug);
CREATE UNIQUE INDEX uq_characters_blizzard_id ON common.characters (blizzard_id) WHERE blizzard_id IS NOT NULL;
CREATE INDEX ix_characters_member_id ON common.characters (member_id);
CREATE INDEX ix_characters_game_rank ON common.characters (game_rank);
CREATE INDEX ix_characters_removed_at ON common.characters (removed_at);

CREATE TABLE common.discord_config (
    id                              integer PRIMARY KEY DEFAULT 1,
    guild_discord_id                varchar(25) NOT NULL,
    role_sync_interval_hours        integer NOT NULL DEFAULT 24,
    default_announcement_channel_id varchar(25) NULL,
    audit_channel_id                varchar(25) NULL,
    last_role_sync_at               timestamptz NULL,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_discord_config_single_row CHECK (id = 1),
    CONSTRAINT ck_discord_config_interval CHECK (role_sync_interval_hours >= 1)
);

CREATE TABLE common.invite_codes (
    id         serial PRIMARY KEY,
    code       varchar(20) NOT NULL,
    member_id  integer NOT NULL REFERENCES common.guild_members(id) ON DELETE CASCADE,
    created_by integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL,
    revoked_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_invite_codes_code UNIQUE (code)
);
CREATE INDEX ix_invite_codes_member_created ON common.invite_codes (member_id, created_at);

CREATE TABLE common.member_availability (
    id              serial PRIMARY KEY,
    member_id       integer NOT NULL REFERENCES common.guild_members(id) ON DELETE CASCADE,
    day_of_week     varchar(10) NOT NULL,
    available       boolean NOT NULL DEFAULT false,
    notes           text NULL,
    auto_signup     boolean NOT NULL DEFAULT false,
    wants_reminders boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_member_day UNIQUE (member_id, day_of_week),
    CONSTRAINT ck_member_availability_day CHECK (day_of_week IN
        ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'))
);

-- patt -----------------------------------------------------------------------------------
CREATE TABLE patt.campaigns (
    id                       serial PRIMARY KEY,
    title                    varchar(200) NOT NULL,
    description              text NULL,
    type                     varchar(20) NOT NULL DEFAULT 'ranked_choice',
    picks_per_voter          integer NOT NULL DEFAULT 3,
    min_rank_to_vote         integer NOT NULL REFERENCES common.guild_ranks(level)
                                 ON UPDATE CASCADE ON DELETE RESTRICT,
    min_rank_to_view         integer NULL REFERENCES common.guild_ranks(level)
                                 ON UPDATE CASCADE ON DELETE RESTRICT,
    start_at                 timestamptz NOT NULL,
    duration_hours           integer NOT NULL,
    status                   varchar(20) NOT NULL DEFAULT 'draft',
    early_close_if_all_voted boolean NOT NULL DEFAULT true,
    discord_channel_id       varchar(25) NULL,
    created_by               integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    activated_at             timestamptz NULL,
    closed_at                timestamptz NULL,
    close_reason             varchar(20) NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_campaigns_type CHECK (type IN ('ranked_choice', 'approval')),
    CONSTRAINT ck_campaigns_picks CHECK (picks_per_voter BETWEEN 1 AND 10),
    CONSTRAINT ck_campaigns_duration CHECK (duration_hours BETWEEN 1 AND 8760),
    CONSTRAINT ck_campaigns_status CHECK (status IN ('draft', 'live', 'closed', 'archived')),
    CONSTRAINT ck_campaigns_close_reason CHECK (close_reason IN ('expired', 'early_close', 'manual')),
    CONSTRAINT ck_campaigns_view_le_vote CHECK (min_rank_to_view IS NULL OR min_rank_to_view <= min_rank_to_vote)
);
CREATE INDEX ix_campaigns_status_start ON patt.campaigns (status, start_at);

CREATE TABLE patt.campaign_entries (
    id                   serial PRIMARY KEY,
    campaign_id          integer NOT NULL REFERENCES patt.campaigns(id) ON DELETE CASCADE,
    name                 varchar(200) NOT NULL,
    description          text NULL,
    image_url            text NULL,
    sort_order           integer NOT NULL DEFAULT 0,
    associated_member_id integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_campaign_entries_campaign_sort ON patt.campaign_entries (campaign_id, sort_order);

CREATE TABLE patt.ballots (
    id          serial PRIMARY KEY,
    campaign_id integer NOT NULL REFERENCES patt.campaigns(id) ON DELETE CASCADE,
    member_id   integer NOT NULL REFERENCES common.guild_members(id) ON DELETE RESTRICT,
    cast_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_ballot_campaign_member UNIQUE (campaign_id, member_id)
);

CREATE TABLE patt.votes (
    id          serial PRIMARY KEY,
    ballot_id   integer NOT NULL REFERENCES patt.ballots(id) ON DELETE CASCADE,
    campaign_id integer NOT NULL REFERENCES patt.campaigns(id) ON DELETE CASCADE,
    member_id   integer NOT NULL REFERENCES common.guild_members(id) ON DELETE RESTRICT,
    entry_id    integer NOT NULL REFERENCES patt.campaign_entries(id) ON DELETE RESTRICT,
    rank        integer NOT NULL,
    voted_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_votes_rank CHECK (rank >= 1),
    CONSTRAINT uq_votes_campaign_member_rank UNIQUE (campaign_id, member_id, rank),
    CONSTRAINT uq_votes_campaign_member_entry UNIQUE (campaign_id, member_id, entry_id)
);
CREATE INDEX ix_votes_campaign_entry ON patt.votes (campaign_id, entry_id);

CREATE TABLE patt.campaign_results (
    id                 serial PRIMARY KEY,
    campaign_id        integer NOT NULL REFERENCES patt.campaigns(id) ON DELETE CASCADE,
    entry_id           integer NOT NULL REFERENCES patt.campaign_entries(id) ON DELETE CASCADE,
    first_place_count  integer NOT NULL DEFAULT 0,
    second_place_count integer NOT NULL DEFAULT 0,
    third_place_count  integer NOT NULL DEFAULT 0,
    rank_counts        integer[] NOT NULL DEFAULT '{}',
    weighted_score     integer NOT NULL DEFAULT 0,
    final_rank         integer NOT NULL,
    calculated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_campaign_results_campaign_entry UNIQUE (campaign_id, entry_id)
);
CREATE INDEX ix_campaign_results_campaign_rank ON patt.campaign_results (campaign_id, final_rank);

CREATE TABLE patt.contest_agent_log (
    id                 serial PRIMARY KEY,
    campaign_id        integer NOT NULL REFERENCES patt.campaigns(id) ON DELETE CASCADE,
    event_type         varchar(50) NOT NULL,
    message            text NOT NULL,
    discord_message_id varchar(25) NULL,
    posted_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_contest_agent_log_event CHECK (event_type IN ('launch', 'first_vote', 'lead_change',
        'milestone_25', 'milestone_50', 'milestone_75', 'final_stretch', 'last_call', 'early_close', 'results'))
);
CREATE INDEX ix_contest_agent_log_campaign_event ON patt.contest_agent_log (campaign_id, event_type);

CREATE TABLE patt.mito_quotes (
    id         serial PRIMARY KEY,
    quote      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_mito_quotes_length CHECK (length(btrim(quote)) BETWEEN 1 AND 500)
);

CREATE TABLE patt.mito_titles (
    id         serial PRIMARY KEY,
    title      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ck_mito_titles_length CHECK (length(btrim(title)) BETWEEN 1 AND 200)
);

-- guild_identity -------------------------------------------------------------------------
CREATE TABLE guild_identity.discord_members (
    id                 serial PRIMARY KEY,
    member_id          integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    discord_id         varchar(25) NOT NULL,
    username           varchar(50) NOT NULL,
    global_name        varchar(100) NULL,
    nickname           varchar(100) NULL,
    display_name       varchar(100) NULL,
    roles              jsonb NOT NULL DEFAULT '[]',
    highest_guild_role varchar(50) NULL,
    all_guild_roles    text[] NOT NULL DEFAULT '{}',
    joined_server_at   timestamptz NULL,
    is_present         boolean NOT NULL DEFAULT true,
    removed_at         timestamptz NULL,
    first_seen         timestamptz NOT NULL DEFAULT now(),
    last_sync          timestamptz NULL,
    CONSTRAINT uq_discord_members_discord_id UNIQUE (discord_id)
);
CREATE INDEX ix_discord_members_member_id ON guild_identity.discord_members (member_id);
CREATE INDEX ix_discord_members_username_lower ON guild_identity.discord_members (lower(username));
CREATE INDEX ix_discord_members_display_name_lower ON guild_identity.discord_members (lower(display_name));

CREATE TABLE guild_identity.identity_links (
    id                serial PRIMARY KEY,
    member_id         integer NOT NULL REFERENCES common.guild_members(id) ON DELETE CASCADE,
    character_id      integer NULL REFERENCES common.characters(id) ON DELETE CASCADE,
    discord_member_id integer NULL REFERENCES guild_identity.discord_members(id) ON DELETE CASCADE,
    source            varchar(30) NOT NULL,
    confidence        varchar(10) NOT NULL DEFAULT 'high',
    confirmed         boolean NOT NULL DEFAULT false,
    confirmed_by      varchar(100) NULL,
    confirmed_at      timestamptz NULL,
    created_by        integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_identity_links_character_id UNIQUE (character_id),
    CONSTRAINT uq_identity_links_discord_member_id UNIQUE (discord_member_id),
    CONSTRAINT ck_identity_links_source CHECK (source IN ('exact_name_match', 'guild_note', 'officer_note',
        'fuzzy_match', 'migrated_sheet', 'manual', 'roster_form', 'discord_sync')),
    CONSTRAINT ck_identity_links_confidence CHECK (confidence IN ('high', 'medium', 'low')),
    CONSTRAINT ck_identity_links_one_target CHECK ((character_id IS NULL) <> (discord_member_id IS NULL))
);
CREATE INDEX ix_identity_links_member_id ON guild_identity.identity_links (member_id);

CREATE TABLE guild_identity.link_rejections (
    id                serial PRIMARY KEY,
    character_id      integer NULL REFERENCES common.characters(id) ON DELETE CASCADE,
    discord_member_id integer NULL REFERENCES guild_identity.discord_members(id) ON DELETE CASCADE,
    member_id         integer NULL REFERENCES common.guild_members(id) ON DELETE CASCADE,
    rejected_by       varchar(100) NULL,
    rejected_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_link_rejections_character_id ON guild_identity.link_rejections (character_id);
CREATE INDEX ix_link_rejections_discord_member_id ON guild_identity.link_rejections (discord_member_id);

CREATE TABLE guild_identity.audit_issues (
    id                serial PRIMARY KEY,
    issue_type        varchar(50) NOT NULL,
    severity          varchar(10) NOT NULL DEFAULT 'info',
    character_id      integer NULL REFERENCES common.characters(id) ON DELETE CASCADE,
    discord_member_id integer NULL REFERENCES guild_identity.discord_members(id) ON DELETE CASCADE,
    member_id         integer NULL REFERENCES common.guild_members(id) ON DELETE SET NULL,
    summary           text NOT NULL,
    details           jsonb NULL,
    issue_hash        char(64) NOT NULL,
    first_detected    timestamptz NOT NULL DEFAULT now(),
    last_detected     timestamptz NOT NULL DEFAULT now(),
    notified_at       timestamptz NULL,
    resolved_at       timestamptz NULL,
    resolved_by       varchar(100) NULL,
    resolution_note   text NULL,
    ignored           boolean NOT NULL DEFAULT false,
    CONSTRAINT ck_audit_issues_type CHECK (issue_type IN ('orphan_wow', 'orphan_discord', 'role_mismatch',
        'no_guild_role', 'stale_character', 'rank_change', 'auto_link_suggestion')),
    CONSTRAINT ck_audit_issues_severity CHECK (severity IN ('info', 'warning', 'critical'))
);
CREATE UNIQUE INDEX uq_audit_open_issue ON guild_identity.audit_issues (issue_hash) WHERE resolved_at IS NULL;
CREATE INDEX ix_audit_issues_type ON guild_identity.audit_issues (issue_type);
CREATE INDEX ix_audit_issues_unresolved ON guild_identity.audit_issues (resolved_at) WHERE resolved_at IS NULL;
CREATE INDEX ix_audit_issues_unnotified ON guild_identity.audit_issues (notified_at)
    WHERE notified_at IS NULL AND resolved_at IS NULL;

CREATE TABLE guild_identity.sync_log (
    id                 serial PRIMARY KEY,
    source             varchar(30) NOT NULL,
    status             varchar(20) NOT NULL,
    characters_found   integer NULL,
    characters_updated integer NULL,
    characters_new     integer NULL,
    characters_removed integer NULL,
    error_message      text NULL,
    duration_seconds   double precision NULL,
    details            jsonb NULL,
    triggered_by       varchar(50) NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz NULL,
    CONSTRAINT ck_sync_log_source CHECK (source IN ('blizzard_api', 'discord_bot', 'addon_upload', 'sheet_import')),
    CONSTRAINT ck_sync_log_status CHECK (status IN ('running', 'success', 'partial', 'error'))
);
CREATE INDEX ix_sync_log_source_started ON guild_identity.sync_log (source, started_at DESC);
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)
    for table in TABLES_WITH_UPDATED_AT:
        name = table.split(".")[1]
        op.execute(
            f"CREATE TRIGGER trg_{name}_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION common.set_updated_at()"
        )


def downgrade() -> None:
    op.execute("DROP SCHEMA guild_identity CASCADE")
    op.execute("DROP SCHEMA patt CASCADE")
    op.execute("DROP SCHEMA common CASCADE")
