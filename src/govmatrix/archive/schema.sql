-- govmatrix archive schema. Applied by the database superuser as the owner role; the
-- service's role gets SELECT and INSERT only. Triggers refuse UPDATE, DELETE and TRUNCATE
-- even for the owner (row triggers do not fire on TRUNCATE, hence the statement trigger).

CREATE OR REPLACE FUNCTION archive_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the archive is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TABLE IF NOT EXISTS archive_events (
    seq              bigint PRIMARY KEY,
    event_id         text   NOT NULL UNIQUE,
    room_id          text   NOT NULL,
    sender           text   NOT NULL,
    type             text   NOT NULL,
    state_key        text,
    origin_server_ts bigint NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    event            jsonb  NOT NULL,   -- as received, without 'unsigned'
    encrypted        boolean NOT NULL,
    redacts          text,
    recovered        boolean NOT NULL DEFAULT false,  -- arrived pruned; original recovered
    body             text,              -- searchable text of messages
    prev_hash        bytea  NOT NULL,
    hash             bytea  NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_events_room ON archive_events (room_id, origin_server_ts);
CREATE INDEX IF NOT EXISTS archive_events_sender ON archive_events (sender, origin_server_ts);
CREATE INDEX IF NOT EXISTS archive_events_body ON archive_events
    USING gin (to_tsvector('simple', coalesce(body, '')));

CREATE TABLE IF NOT EXISTS archive_transactions (
    txn_id      text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now(),
    events      integer NOT NULL
);

CREATE TABLE IF NOT EXISTS archive_checkpoints (
    head_seq   bigint PRIMARY KEY,
    head_hash  bytea  NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text   NOT NULL,
    statement  text   NOT NULL,   -- the canonical JSON that was signed
    signature  text   NOT NULL
);

CREATE TABLE IF NOT EXISTS archive_media (
    sha256       text PRIMARY KEY,
    size         bigint NOT NULL,
    content_type text,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS archive_event_media (
    event_id text NOT NULL,
    mxc      text NOT NULL,
    sha256   text,          -- NULL: the homeserver no longer had it (error says why)
    error    text,
    PRIMARY KEY (event_id, mxc)
);

-- Every search by a records officer: who, when, which case, what query, how many results.
-- Hash-chained like the events, so a removed or altered entry shows.
CREATE TABLE IF NOT EXISTS archive_access_log (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    officer      text NOT NULL,
    case_ref     text NOT NULL,
    query        jsonb NOT NULL,
    outcome      text NOT NULL,      -- 'answered' or why it was refused
    result_count integer NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);

-- Suspicious activity seen in the stream (thresholds come from the estate).
CREATE TABLE IF NOT EXISTS archive_flags (
    id        bigserial PRIMARY KEY,
    rule      text NOT NULL,
    user_id   text NOT NULL,
    room_id   text,
    event_ids text[] NOT NULL,
    detail    text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS archive_flags_rule_user ON archive_flags (rule, user_id, raised_at);
CREATE INDEX IF NOT EXISTS archive_events_redacts ON archive_events (redacts)
    WHERE redacts IS NOT NULL;

-- Why an account was deactivated, when a trusted process says so (the identity sync
-- records "left the directory"); such deactivations are not flagged as suspicious.
CREATE TABLE IF NOT EXISTS archive_deactivation_reasons (
    user_id     text NOT NULL,
    reason      text NOT NULL,
    recorded_by text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Every archive table, present and future, refuses change.
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename LIKE 'archive\_%'
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_no_change', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION archive_refuse_change()', t || '_no_change', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_no_truncate', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT '
                       'EXECUTE FUNCTION archive_refuse_change()', t || '_no_truncate', t);
    END LOOP;
END
$$;
