-- E-mail addresses are stored lowercased (as better-auth stores them) and compared
-- exactly, so that Ada@Example.com and ada@example.com are one address. Existing rows
-- are lowercased here, except where two rows differ only in case: which of those users
-- owns the address is not for a migration to guess, so they are left as they are (their
-- linked accounts still sign them in; a new identity only ever matches the lowercase
-- form). Resolve such pairs by hand if any exist:
--   SELECT lower(email), count(*) FROM auth.users GROUP BY 1 HAVING count(*) > 1;
UPDATE auth.users AS u
SET email = lower(u.email)
WHERE u.email <> lower(u.email)
  AND NOT EXISTS (
      SELECT 1 FROM auth.users AS other
      WHERE other.id <> u.id AND lower(other.email) = lower(u.email)
  );

-- The periodic sweep of expired sign-ins reads by expiry.
CREATE INDEX IF NOT EXISTS verifications_expires_at_idx ON auth.verifications (expires_at);
