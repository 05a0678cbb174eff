-- Tells every streams server that a session changed or went away, so a cache of
-- validated tokens can drop it at once. The payload is the SHA-256 of the token, never
-- the token itself; '*' (TRUNCATE) means "forget everything".
CREATE OR REPLACE FUNCTION auth.notify_session_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('auth_sessions_changed', '*');
    ELSE
        PERFORM pg_notify('auth_sessions_changed',
                          encode(sha256(convert_to(OLD.token, 'UTF8')), 'hex'));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS sessions_changed ON auth.sessions;
CREATE TRIGGER sessions_changed AFTER UPDATE OR DELETE ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION auth.notify_session_change();

DROP TRIGGER IF EXISTS sessions_truncated ON auth.sessions;
CREATE TRIGGER sessions_truncated AFTER TRUNCATE ON auth.sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_session_change();
