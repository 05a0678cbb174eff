-- Durable streams kept in PostgreSQL, shared by every streams-server process on this
-- database. Versions start at 1001: auth-db's migrations (1, 2, ...) share the
-- _sqlx_migrations table.
CREATE SCHEMA IF NOT EXISTS streams;

CREATE TABLE streams.streams (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner              text        NOT NULL,
    path               text        NOT NULL,
    content_type       text        NOT NULL,
    ttl_seconds        bigint,
    expires_at         timestamptz,
    -- Position after the last byte: where the next append goes.
    tail               bigint      NOT NULL,
    closed             boolean     NOT NULL DEFAULT false,
    closed_by_producer text,
    closed_by_epoch    bigint,
    closed_by_seq      bigint,
    last_stream_seq    text,
    fork_source        bigint REFERENCES streams.streams (id),
    fork_path          text,
    fork_offset        bigint,
    fork_sub_offset    bigint,
    -- Forks reading from this stream; while > 0 a delete only hides it.
    forks              integer     NOT NULL DEFAULT 0,
    soft_deleted       boolean     NOT NULL DEFAULT false,
    last_access        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner, path)
);

-- One row per append (for JSON streams: the append's messages joined by commas).
CREATE TABLE streams.runs (
    stream_id bigint NOT NULL REFERENCES streams.streams (id) ON DELETE CASCADE,
    start_pos bigint NOT NULL,
    data      bytea  NOT NULL,
    PRIMARY KEY (stream_id, start_pos)
);

CREATE TABLE streams.producers (
    stream_id   bigint NOT NULL REFERENCES streams.streams (id) ON DELETE CASCADE,
    producer_id text   NOT NULL,
    epoch       bigint NOT NULL,
    last_seq    bigint NOT NULL,
    PRIMARY KEY (stream_id, producer_id)
);
