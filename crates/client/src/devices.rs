//! Where the account is signed in: the auth server's `/api/sessions`. Each device is a
//! live session, named by the `User-Agent` it signed in with; revoking one deletes it,
//! and every server refuses its token from then on.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::session_manager::{ClientError, SessionManager};

/// One signed-in device as the auth server lists it (never its token).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Device {
    pub id: String,
    /// The `User-Agent` it signed in with, e.g. `superset-cli/0.1.0 (linux; laptop)`.
    pub client: Option<String>,
    pub created_at: String,
    /// Last use, to within the server's renewal interval (a day by default).
    pub last_used_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    /// Whether it is this one.
    pub current: bool,
}

impl SessionManager {
    /// The account's live sessions, most recently used first.
    pub async fn list_devices(&self) -> Result<Vec<Device>, ClientError> {
        #[derive(Deserialize)]
        struct List {
            sessions: Vec<Device>,
        }
        let response = self.api_call(Method::GET, "api/sessions").await?;
        let list: List = response.json().await.map_err(|_| ClientError::BadAnswer("GET /api/sessions".into()))?;
        Ok(list.sessions)
    }

    /// Signs out the device with this id. `Ok(false)`: the account has no such device
    /// (already gone, or never its own). Revoking this device's own session makes the
    /// stored token dead: the next call finds it refused and signs out.
    pub async fn revoke_device(&self, id: &str) -> Result<bool, ClientError> {
        let mut path = String::from("api/sessions/");
        path.extend(url::form_urlencoded::byte_serialize(id.as_bytes()));
        match self.api_call(Method::DELETE, &path).await {
            Ok(_) => Ok(true),
            Err(ClientError::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Signs out every device of the account but this one; returns how many.
    pub async fn revoke_other_devices(&self) -> Result<u64, ClientError> {
        #[derive(Deserialize)]
        struct Revoked {
            revoked: u64,
        }
        let response = self.api_call(Method::POST, "api/sessions/revoke-others").await?;
        let revoked: Revoked =
            response.json().await.map_err(|_| ClientError::BadAnswer("POST /api/sessions/revoke-others".into()))?;
        Ok(revoked.revoked)
    }
}
