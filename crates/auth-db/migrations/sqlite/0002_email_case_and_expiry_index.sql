-- E-mail addresses are stored lowercased (as better-auth stores them) and compared
-- exactly, so that Ada@Example.com and ada@example.com are one address. Existing rows
-- are lowercased here, except where two rows differ only in case: which of those users
-- owns the address is not for a migration to guess, so they are left as they are (their
-- linked accounts still sign them in; a new identity only ever matches the lowercase
-- form). SQLite's lower() folds ASCII letters only, as e-mail addresses almost always are.
UPDATE users
SET email = lower(email)
WHERE email <> lower(email)
  AND NOT EXISTS (
      SELECT 1 FROM users AS other
      WHERE other.id <> users.id AND lower(other.email) = lower(users.email)
  );

-- The periodic sweep of expired sign-ins reads by expiry.
CREATE INDEX IF NOT EXISTS verifications_expires_at_idx ON verifications (expires_at);
