/// What can go wrong talking to the auth database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("DATABASE_URL is malformed: {0}")]
    InvalidUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the auth schema failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("auth.sessions.expires_at has type {0:?}; expected timestamp or timestamptz")]
    UnsupportedLayout(String),
    #[error("session lifetime out of range")]
    TtlOutOfRange,
    /// An upstream identity with an unverified email asked to join the user who owns
    /// that email: linking would hand that user's data to whoever typed the address.
    #[error("the email address belongs to another user and the provider has not verified it")]
    UnverifiedEmailTaken,
}

impl Error {
    /// True when the database itself is unreachable or failing (as opposed to a bad
    /// request): callers answer 503 and retry instead of treating the user as signed out.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Database(_) | Error::Migrate(_))
    }
}
