-- The same tables and columns as the PostgreSQL auth schema. SQLite has no schemas, so
-- the tables carry their bare names. Ids are UUIDs as text; timestamps are integers
-- holding Unix time in milliseconds (UTC), which compare and index cheaply.
CREATE TABLE IF NOT EXISTS users (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    email_verified integer NOT NULL DEFAULT 0,
    image text,
    created_at integer NOT NULL,
    updated_at integer NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id text PRIMARY KEY,
    expires_at integer NOT NULL,
    token text NOT NULL UNIQUE,
    created_at integer NOT NULL,
    updated_at integer NOT NULL,
    ip_address text,
    user_agent text,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active_organization_id text
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id);

CREATE TABLE IF NOT EXISTS accounts (
    id text PRIMARY KEY,
    account_id text NOT NULL,
    provider_id text NOT NULL,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_token text,
    refresh_token text,
    id_token text,
    access_token_expires_at integer,
    refresh_token_expires_at integer,
    scope text,
    password text,
    created_at integer NOT NULL,
    updated_at integer NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_user_id_idx ON accounts (user_id);
CREATE UNIQUE INDEX IF NOT EXISTS accounts_provider_account_idx
    ON accounts (provider_id, account_id);

CREATE TABLE IF NOT EXISTS verifications (
    id text PRIMARY KEY,
    identifier text NOT NULL,
    value text NOT NULL,
    expires_at integer NOT NULL,
    created_at integer NOT NULL,
    updated_at integer NOT NULL
);
CREATE INDEX IF NOT EXISTS verifications_identifier_idx ON verifications (identifier);
