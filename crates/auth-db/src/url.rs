use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use crate::Error;

/// A parsed `DATABASE_URL`; its scheme picks the driver.
#[derive(Clone)]
pub enum DatabaseUrl {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

impl FromStr for DatabaseUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let invalid = |e: sqlx::Error| Error::InvalidUrl(e.to_string());
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(PgConnectOptions::from_str(s).map_err(invalid)?))
        } else if s.starts_with("sqlite:") {
            Ok(DatabaseUrl::Sqlite(SqliteConnectOptions::from_str(s).map_err(invalid)?))
        } else {
            Err(Error::InvalidUrl("expected postgres://USER@HOST/DB or sqlite:PATH".to_owned()))
        }
    }
}

/// Shows where the database is without its password, so the value can be logged.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Postgres(o) => write!(
                f,
                "postgres://{}@{}:{}/{}",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            DatabaseUrl::Sqlite(o) => write!(f, "sqlite:{}", o.get_filename().display()),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_picks_the_driver() {
        assert!(matches!("postgres://u@h/db".parse(), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!("postgresql://u@h/db".parse(), Ok(DatabaseUrl::Postgres(_))));
        assert!(matches!("sqlite::memory:".parse(), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!("mysql://h/db".parse::<DatabaseUrl>(), Err(Error::InvalidUrl(_))));
        assert!(matches!("".parse::<DatabaseUrl>(), Err(Error::InvalidUrl(_))));
    }

    #[test]
    fn display_hides_the_password() {
        let url: DatabaseUrl = "postgres://alice:hunter2@db.example:5433/app".parse().unwrap();
        let shown = url.to_string();
        assert_eq!(shown, "postgres://alice@db.example:5433/app");
    }
}
