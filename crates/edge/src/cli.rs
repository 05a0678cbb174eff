//! The command line every server binary has: its settings (flags and environment), and
//! what to do with them: serve, unless a task is named.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(version)]
pub struct Cli<C: Args> {
    #[command(subcommand)]
    pub task: Option<Task>,
    #[command(flatten)]
    pub config: C,
}

/// What a server binary can do instead of serving.
#[derive(Subcommand, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Migrate the database (the schemas this server serves from), then exit; needs
    /// only DATABASE_URL. Serving migrates too; this is for a deploy step that runs
    /// before any instance starts.
    Migrate,
    /// Ask the server running with these settings for GET /health (on loopback when it
    /// listens on every interface); exit 0 if it answers 200, 1 otherwise. The image's
    /// HEALTHCHECK, which has no curl.
    Probe,
}

impl<C: Args> Cli<C> {
    /// Parses the process's arguments as the binary `name`, which `about` describes in
    /// `--help`; exits with clap's message on a bad one.
    pub fn parse_as(name: &'static str, about: &'static str) -> Self {
        let matches = Self::command().name(name).bin_name(name).about(about).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// A duration setting: seconds (`2592000`) or a humantime duration (`30d`, `12h 30m`);
/// never zero.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let duration = match s.parse::<u64>() {
        Ok(secs) => std::time::Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s).map_err(|e| format!("{e}: expected seconds or e.g. 30d, 12h"))?,
    };
    if duration.is_zero() {
        return Err("must be longer than zero seconds".to_owned());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_are_seconds_or_humantime_and_never_zero() {
        assert_eq!(parse_duration("2592000"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(2_592_000)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
