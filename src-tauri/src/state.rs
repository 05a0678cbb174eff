//! What the commands share.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use superset_client::home::superset_home;
use superset_client::replica::Replicas;
use superset_client::servers::ServerUrls;
use superset_client::{LinkReceiver, RetryPolicy, ReturnPath, SessionManager, TokenStore};
use tokio_util::sync::CancellationToken;

use crate::search::Search;

pub struct AppState {
    pub manager: SessionManager,
    pub home: PathBuf,
    /// How sign-ins come back from the browser: `SUPERSET_SIGN_IN_RETURN`, `loopback`
    /// (the default) or `app-link`.
    pub sign_in_return: ReturnPath,
    /// The sign-in waiting for the browser, to cancel it.
    pub sign_in: Mutex<Option<CancellationToken>>,
    /// Where a `superset://auth/callback` link for that sign-in goes.
    pub sign_in_link: Mutex<Option<LinkReceiver>>,
    /// Live subscriptions by session id; cancelling one ends it.
    pub subscriptions: Mutex<HashMap<String, CancellationToken>>,
    /// Replies being generated here, by session id.
    pub generations: Mutex<HashMap<String, CancellationToken>>,
    /// The signed-in account's local copy of its chats (see `offline`), once known.
    pub replicas: Mutex<Option<Arc<Replicas>>>,
    /// The servers could not be reached the last time they were asked.
    pub offline: AtomicBool,
    /// A background sync of every chat is running.
    pub syncing: AtomicBool,
    /// Every chat's text, for `search`.
    pub search: Arc<Search>,
}

impl AppState {
    pub fn from_env() -> Result<Self, String> {
        let home = superset_home().map_err(|e| e.to_string())?;
        let urls = ServerUrls::from_env_or(option_env!("SUPERSET_API_URL"), option_env!("SUPERSET_STREAMS_URL"))
            .map_err(|e| e.to_string())?;
        let sign_in_return = match std::env::var("SUPERSET_SIGN_IN_RETURN").as_deref() {
            Err(_) | Ok("" | "loopback") => ReturnPath::Loopback,
            Ok("app-link") => ReturnPath::AppLink,
            Ok(other) => return Err(format!("SUPERSET_SIGN_IN_RETURN is {other:?}; use loopback or app-link")),
        };
        let manager = SessionManager::new(urls, TokenStore::new(&home), RetryPolicy::default());
        Ok(AppState {
            manager,
            home,
            sign_in_return,
            sign_in: Mutex::default(),
            sign_in_link: Mutex::default(),
            subscriptions: Mutex::default(),
            generations: Mutex::default(),
            replicas: Mutex::default(),
            offline: AtomicBool::new(false),
            syncing: AtomicBool::new(false),
            search: Arc::default(),
        })
    }
}
