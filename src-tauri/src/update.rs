//! Updates: the release feed (`plugins.updater` in tauri.conf.json, set by the release
//! build) is asked at start and then on the person's schedule; the UI shows what it
//! found and installs it only when asked. Every download is checked against the public
//! key compiled into this build, and against the version its signature names, before
//! the system's installer sees it; a mismatch installs nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use superset_client::token_store::atomic_file;
use tauri::{AppHandle, Manager};
use tauri_plugin_updater::{Error, Update, UpdaterExt};
use tokio::sync::Notify;

use crate::contract::{AvailableUpdate, UpdatePhase, UpdateSchedule, UpdateStatus, UPDATE_CHANGED};
use crate::error::{CommandError, CommandResult};

const FILE: &str = "updates.json";
/// The first check waits this long, so it never competes with the first screen.
const FIRST_CHECK: Duration = Duration::from_secs(5);
/// A feed or download that stops answering.
const TIMEOUT: Duration = Duration::from_secs(300);
/// Progress is reported at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What `updates.json` keeps.
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    schedule: UpdateSchedule,
}

pub struct Updates {
    file: PathBuf,
    status: Mutex<UpdateStatus>,
    /// What the last check found, to install.
    found: Mutex<Option<Update>>,
    /// Wakes the schedule when it changes.
    rescheduled: Notify,
}

impl Updates {
    pub fn new(home: &Path, current: String, feed: bool) -> Updates {
        let file = home.join(FILE);
        let saved: Saved = std::fs::read(&file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        let status = UpdateStatus {
            current,
            feed,
            schedule: saved.schedule,
            available: None,
            phase: UpdatePhase::Idle,
            checked_at: None,
        };
        Updates { file, status: Mutex::new(status), found: Mutex::default(), rescheduled: Notify::new() }
    }

    pub fn status(&self) -> UpdateStatus {
        self.status.lock().unwrap().clone()
    }
}

/// Moves to `phase` and tells the UI, unless a check or an install is under way: one at a
/// time, so two clicks never run the installer twice.
fn begin(app: &AppHandle, phase: UpdatePhase) -> bool {
    change(app, |status| {
        let busy =
            matches!(status.phase, UpdatePhase::Checking | UpdatePhase::Downloading { .. } | UpdatePhase::Installing);
        if busy || !status.feed {
            return false;
        }
        status.phase = phase;
        true
    })
    .is_some()
}

/// Changes the status and tells the UI.
fn set(app: &AppHandle, update: impl FnOnce(&mut UpdateStatus)) -> UpdateStatus {
    change(app, |status| {
        update(status);
        true
    })
    .expect("an unconditional change")
}

/// Applies `update` under the lock; when it says it changed something, tells the UI and
/// returns the new status.
fn change(app: &AppHandle, update: impl FnOnce(&mut UpdateStatus) -> bool) -> Option<UpdateStatus> {
    let status = {
        let updates = app.state::<Updates>();
        let mut status = updates.status.lock().unwrap();
        if !update(&mut status) {
            return None;
        }
        status.clone()
    };
    UPDATE_CHANGED.emit(app, status.clone());
    Some(status)
}

/// Whether this build names a feed: a release build does, a development build need not.
pub fn has_feed(config: &tauri::Config) -> bool {
    config
        .plugins
        .0
        .get("updater")
        .and_then(|u| u.get("endpoints"))
        .and_then(|e| e.as_array())
        .is_some_and(|e| !e.is_empty())
}

/// Checks at start, then as often as the schedule says, for as long as the app runs.
pub fn start(app: AppHandle) {
    if !app.state::<Updates>().status().feed {
        return;
    }
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(FIRST_CHECK).await;
        let updates = app.state::<Updates>();
        loop {
            let every = match updates.status().schedule {
                UpdateSchedule::Daily => Some(Duration::from_secs(24 * 3600)),
                UpdateSchedule::Weekly => Some(Duration::from_secs(7 * 24 * 3600)),
                UpdateSchedule::Never => None,
            };
            match every {
                Some(every) => {
                    check(&app).await;
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = updates.rescheduled.notified() => {}
                    }
                }
                None => updates.rescheduled.notified().await,
            }
        }
    });
}

/// Asks the feed now. A failure is only noted in the status: the app works without it.
pub async fn check(app: &AppHandle) -> UpdateStatus {
    let updates = app.state::<Updates>();
    if !begin(app, UpdatePhase::Checking) {
        return updates.status();
    }
    let found = match app.updater_builder().timeout(TIMEOUT).build() {
        Ok(updater) => updater.check().await,
        Err(e) => Err(e),
    };
    match found {
        Ok(update) => {
            if let Some(update) = &update {
                tracing::info!(version = %update.version, "a newer release is available");
            }
            let available =
                update.as_ref().map(|u| AvailableUpdate { version: u.version.clone(), notes: u.body.clone() });
            *updates.found.lock().unwrap() = update;
            set(app, |s| {
                s.available = available;
                s.phase = UpdatePhase::Idle;
                s.checked_at = Some(chrono::Utc::now());
            })
        }
        Err(e) => {
            tracing::info!(error = %e, "cannot check for updates");
            let message = "Couldn't check for updates. The app will try again later.".to_owned();
            set(app, |s| s.phase = UpdatePhase::CheckFailed { message })
        }
    }
}

/// Saves the schedule; a schedule that is not `Never` checks at once.
pub fn reschedule(app: &AppHandle, schedule: UpdateSchedule) -> CommandResult<UpdateStatus> {
    let updates = app.state::<Updates>();
    let bytes = serde_json::to_vec_pretty(&Saved { schedule }).expect("the schedule serializes");
    let home = updates.file.parent().expect("updates.json is in the home");
    atomic_file::private_dir(home).and_then(|()| atomic_file::write(&updates.file, &bytes)).map_err(|e| {
        CommandError::invalid(format!("Couldn't save the update setting in {}: {e}", updates.file.display()))
    })?;
    let status = set(app, |s| s.schedule = schedule);
    updates.rescheduled.notify_one();
    Ok(status)
}

/// Downloads what the last check found, verifies it, hands it to the system's installer
/// and restarts into it. On failure the running version stays, and the status says why.
pub async fn install(app: AppHandle) -> CommandResult<()> {
    let updates = app.state::<Updates>();
    let Some(update) = updates.found.lock().unwrap().clone() else {
        return Err(CommandError::invalid("There is no update to install: check for updates first."));
    };
    if !begin(&app, UpdatePhase::Downloading { received: 0, total: None }) {
        return Err(CommandError::invalid("An update check or install is already under way."));
    }
    let installed = download_and_install(&app, update.clone()).await;
    if let Err(e) = installed {
        tracing::warn!(version = %update.version, error = %e, "the update was not installed");
        let (message, forged) = failure(&e, &update);
        if forged {
            // Not worth a retry: the feed must change first.
            *updates.found.lock().unwrap() = None;
        }
        set(&app, |s| {
            s.phase = UpdatePhase::InstallFailed { message: message.clone() };
            if forged {
                s.available = None;
            }
        });
        return Err(CommandError::invalid(message));
    }
    tracing::info!(version = %update.version, "update installed; restarting into it");
    app.restart()
}

async fn download_and_install(app: &AppHandle, update: Update) -> Result<(), Error> {
    let (mut received, mut reported) = (0u64, Instant::now());
    let bytes = update
        .download(
            |chunk, total| {
                received += chunk as u64;
                if reported.elapsed() >= PROGRESS_EVERY || Some(received) == total {
                    reported = Instant::now();
                    set(app, |s| s.phase = UpdatePhase::Downloading { received, total });
                }
            },
            || {},
        )
        .await?;
    set(app, |s| s.phase = UpdatePhase::Installing);
    // The installer may wait for a password (pkexec): not on the runtime's threads.
    tauri::async_runtime::spawn_blocking(move || update.install(bytes))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}

/// A failed install in plain words (the technical account goes to the log), and whether
/// the download was refused for its signature.
fn failure(e: &Error, update: &Update) -> (String, bool) {
    let (version, current) = (&update.version, &update.current_version);
    match e {
        Error::Minisign(_)
        | Error::SignatureUtf8(_)
        | Error::Base64(_)
        | Error::SignedVersionMismatch { .. }
        | Error::MissingSignedVersion => (
            format!(
                "The download of version {version} isn't signed by Superset's release key, so it was not installed. \
                 You're still on {current}."
            ),
            true,
        ),
        Error::Reqwest(_) | Error::Network(_) | Error::Io(_) => {
            (format!("Couldn't download version {version}. Check your connection and try again."), false)
        }
        _ => (
            format!(
                "Version {version} couldn't be installed: the system's installer refused it or was cancelled. \
                 You're still on {current}."
            ),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_read_back_and_a_bad_file_means_daily() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(Updates::new(home.path(), "1.0.0".into(), true).status().schedule, UpdateSchedule::Daily);
        std::fs::write(home.path().join(FILE), r#"{"schedule": "never"}"#).unwrap();
        let status = Updates::new(home.path(), "1.0.0".into(), true).status();
        assert_eq!(
            (status.schedule, status.current.as_str(), status.phase),
            (UpdateSchedule::Never, "1.0.0", UpdatePhase::Idle)
        );
        std::fs::write(home.path().join(FILE), "not json").unwrap();
        assert_eq!(Updates::new(home.path(), "1.0.0".into(), true).status().schedule, UpdateSchedule::Daily);
    }

    #[test]
    fn a_build_has_a_feed_only_when_it_names_an_endpoint() {
        let config = |updater: serde_json::Value| {
            let mut config: tauri::Config =
                serde_json::from_str(include_str!("../../tauri.conf.json")).expect("tauri.conf.json parses");
            config.plugins.0.insert("updater".into(), updater);
            config
        };
        assert!(!has_feed(&config(serde_json::json!({"pubkey": "k", "endpoints": []}))));
        assert!(!has_feed(&config(serde_json::json!({"pubkey": "k"}))));
        assert!(has_feed(&config(
            serde_json::json!({"pubkey": "k", "endpoints": ["https://example.com/latest.json"]})
        )));
    }
}
