//! The desktop contract, declared once: the commands (`command_list.rs`) with their
//! argument and result types, the events and their payloads, the error kinds. The UI's
//! TypeScript side, `ui/src/contract.ts`, is generated from here, and a test fails
//! when that file, or the main window's capability, no longer matches:
//!
//! ```sh
//! UPDATE_BINDINGS=1 cargo test -p superset-desktop --lib contract
//! ```
//!
//! The types are described with ts-rs (major 12) rather than tauri-specta: ts-rs has
//! stable releases and only derives TypeScript from serde types, while tauri-specta 2
//! is still a release candidate tied to a specta release candidate and wants to own
//! the invoke handler. The command list, which ts-rs knows nothing of, is the one
//! macro list in `command_list.rs`.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use superset_chat::Update;
use superset_client::assistant::ProviderKind;
use superset_client::replica::Outgoing;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

#[cfg(test)]
use bindings::TsType;

/// `get_config`'s answer: where the streams server is, and whether a session token is
/// stored. Never the token itself: the webview makes no call that needs it, so a
/// script injected into the page could not take it.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub proxy_url: String,
    pub signed_in: bool,
}

/// Who is signed in.
#[derive(Debug, Serialize, TS)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub image: Option<String>,
}

/// A finished sign-in.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    pub signed_in: bool,
    #[ts(type = "string | null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `revoke_device`'s answer.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RevokedDevice {
    /// False when the account had no such device (already signed out elsewhere).
    pub revoked: bool,
    /// It was this device: the shell signed out, as `sign_out` does.
    pub signed_out: bool,
}

/// A message the server accepted.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub message_id: String,
}

/// The first screens the UI can paint.
#[derive(Debug, Deserialize, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum Screen {
    SignIn,
    Chat,
}

/// What `subscribe_session`'s channel carries: the conversation, already read from the
/// chat's events by superset-chat, as changes the UI applies as they come.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChatFeed {
    /// What a batch of events changed, in order; the history (up to the stream's first
    /// up-to-date, and what a reconnect catches up) as one batch of whole messages.
    /// Empty when the subscription caught up with nothing new: that clears "reconnecting".
    Updates { updates: Vec<Update> },
    /// The chat's stream was closed (the chat was deleted); nothing more comes.
    Closed,
    /// The stream failed; while `retrying`, the shell reconnects on its own, in
    /// `retry_in_secs`. `message` says in plain words what happened ("Can't reach the
    /// server."); `detail` is the technical account, for "Details" only.
    #[serde(rename_all = "camelCase")]
    Error { message: String, detail: Option<String>, retrying: bool, retry_in_secs: Option<u32> },
}

/// `auth:changed`.
#[derive(Clone, Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AuthChanged {
    pub signed_in: bool,
    #[ts(type = "string | null")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `auth:sign-in-url`: the page the sign-in opened, to offer when no browser came up.
#[derive(Clone, Debug, Serialize, TS)]
pub struct SignInUrl {
    pub url: String,
}

/// How often the app asks the release feed for a newer version (kept in `updates.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum UpdateSchedule {
    /// At start, then every day the app stays open.
    #[default]
    Daily,
    Weekly,
    Never,
}

/// A signed release newer than the one running.
#[derive(Clone, Debug, Serialize, TS)]
pub struct AvailableUpdate {
    pub version: String,
    /// The release notes, as the release wrote them (Markdown).
    pub notes: Option<String>,
}

/// What the updater is doing. A failed check is quiet (Settings shows it); a failed
/// install is shown where the person asked for it.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum UpdatePhase {
    Idle,
    Checking,
    CheckFailed {
        message: String,
    },
    /// Bytes received so far, of `total` when the server said.
    Downloading {
        #[ts(type = "number")]
        received: u64,
        #[ts(type = "number | null")]
        total: Option<u64>,
    },
    /// Verified; the system's installer runs (it may ask for the administrator's password).
    Installing,
    InstallFailed {
        message: String,
    },
}

/// `update:changed`, and the update commands' answer.
#[derive(Clone, Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatus {
    /// The running version.
    pub current: String,
    /// Whether this build has a release feed (a development build has none).
    pub feed: bool,
    pub schedule: UpdateSchedule,
    pub available: Option<AvailableUpdate>,
    pub phase: UpdatePhase,
    /// When the feed last answered.
    #[ts(type = "string | null")]
    pub checked_at: Option<DateTime<Utc>>,
}

// ---- models ----

/// `get_settings`'s answer: the assistant replies come from, as `superset config`
/// keeps it (`assistant.json`), and for each provider its defaults and whether a key
/// is set. Never a key itself.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AssistantSettings {
    pub provider: ProviderKind,
    /// None: the provider's default model.
    pub model: Option<String>,
    /// None: the provider's default base URL.
    pub base_url: Option<String>,
    pub providers: Vec<ProviderInfo>,
}

/// What the settings view shows of one provider.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub provider: ProviderKind,
    pub default_model: String,
    /// None for the echo assistant, which calls no server.
    pub default_base_url: Option<String>,
    /// Replies fail without a key (Anthropic); local OpenAI-compatible servers need none.
    pub needs_key: bool,
    pub key: Option<StoredKey>,
}

/// Where a key is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum KeyStore {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    Keyring,
    /// No keyring answered: a file only this user can read (`file`).
    File,
}

/// A key that is set: where, and its last four characters (none for a short key).
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StoredKey {
    pub store: KeyStore,
    pub file: Option<String>,
    pub ending: Option<String>,
}

/// `test_connection`'s answer: `message` says in words what works or what is wrong.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    pub ok: bool,
    pub message: String,
    /// The technical cause of a failure, for a "Details" disclosure.
    pub detail: Option<String>,
    pub models: Vec<String>,
}

/// `network:changed` and `network_status`'s answer: whether the servers could be
/// reached the last time they were asked. Offline, the chats show from the local copy
/// and messages wait in the outbox.
#[derive(Clone, Debug, Serialize, TS)]
pub struct NetworkChanged {
    pub offline: bool,
}

// ---- comfort: errors in words ----

/// Why the server refused the session, for the words of the sign-in prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum SessionEnd {
    /// Refused before its expiry on this machine's clock: signed out from another
    /// device, or revoked.
    Ended,
    /// Refused after its expiry had passed: 30 days without use.
    Expired,
}

/// `auth:required`.
#[derive(Clone, Debug, Serialize, TS)]
pub struct AuthRequired {
    pub reason: SessionEnd,
}

/// An event the shell pushes to the UI, with its payload's type.
pub struct Event<T> {
    pub name: &'static str,
    payload: PhantomData<T>,
}

impl<T: Serialize + Clone> Event<T> {
    const fn new(name: &'static str) -> Self {
        Event { name, payload: PhantomData }
    }

    /// Tells every window; a closed window is not an error worth reporting.
    pub fn emit(&self, app: &AppHandle, payload: T) {
        let _ = app.emit(self.name, payload);
    }
}

macro_rules! events {
    ($($(#[$doc:meta])* $constant:ident = $name:literal: $payload:ty;)*) => {
        $($(#[$doc])* pub const $constant: Event<$payload> = Event::new($name);)*

        /// `(name, payload type)` of every event, for the bindings.
        #[cfg(test)]
        fn events() -> Vec<(&'static str, String)> {
            vec![$(($name, <$payload as TsType>::ts())),*]
        }
    };
}

events! {
    /// Signed in or out (by the user, or by a refused token).
    AUTH_CHANGED = "auth:changed": AuthChanged;
    /// The server refused the stored token: sign in again (`reason`: ended or expired).
    AUTH_REQUIRED = "auth:required": AuthRequired;
    SIGN_IN_URL = "auth:sign-in-url": SignInUrl;
    /// The updater's status changed (a check, a download's progress, a failure).
    UPDATE_CHANGED = "update:changed": UpdateStatus;
    /// The servers became reachable, or stopped being.
    NETWORK_CHANGED = "network:changed": NetworkChanged;
    /// What waits in the outbox now (every chat's), oldest first.
    OUTBOX_CHANGED = "outbox:changed": Vec<Outgoing>;
}

/// The generated TypeScript, and the tests that keep it and the capability current.
#[cfg(test)]
mod bindings {
    use std::path::Path;

    use superset_chat::{Message, MessageStatus, Role};
    use superset_client::chats::ChatInfo;
    use superset_client::devices::Device;
    use superset_client::search::{SearchHit, Snippet};

    use super::*;
    use crate::error::{CommandError, ErrorKind};

    /// A contract-only stand-in for `tauri::ipc::Channel<T>`: how the command list names
    /// a channel argument (the UI passes a `Channel` from `@tauri-apps/api/core`).
    pub struct Channel<T>(PhantomData<T>);

    /// A type as the bindings write it: ts-rs's name, or `Channel<T>`.
    pub(super) trait TsType {
        fn ts() -> String;
    }

    impl<T: TS> TsType for T {
        fn ts() -> String {
            T::name(&ts_rs::Config::default())
        }
    }

    impl<T: TS> TsType for Channel<T> {
        fn ts() -> String {
            format!("Channel<{}>", T::name(&ts_rs::Config::default()))
        }
    }

    /// One command as the bindings describe it.
    struct Command {
        name: &'static str,
        args: Vec<(&'static str, String)>,
        result: String,
    }

    macro_rules! command_table {
        ($($name:ident ($($arg:ident : $ty:ty),*) -> $result:ty;)*) => {
            fn commands() -> Vec<Command> {
                vec![$(Command {
                    name: stringify!($name),
                    args: vec![$((stringify!($arg), <$ty as TsType>::ts())),*],
                    result: <$result as TsType>::ts(),
                }),*]
            }
        };
    }
    with_commands!(command_table);

    /// The text of `ui/src/contract.ts`.
    pub fn typescript() -> String {
        let cfg = ts_rs::Config::default();
        let mut out = String::from(
            "// Generated from src-tauri/src/contract.rs: do not edit. Regenerate with\n\
             // `UPDATE_BINDINGS=1 cargo test -p superset-desktop --lib contract`.\n\n\
             import type { Channel } from \"@tauri-apps/api/core\";\n\n",
        );
        let declarations = [
            Config::decl(&cfg),
            User::decl(&cfg),
            SignedIn::decl(&cfg),
            Device::decl(&cfg),
            RevokedDevice::decl(&cfg),
            Sent::decl(&cfg),
            Screen::decl(&cfg),
            ChatInfo::decl(&cfg),
            Role::decl(&cfg),
            MessageStatus::decl(&cfg),
            Message::decl(&cfg),
            Update::decl(&cfg),
            ChatFeed::decl(&cfg),
            AuthChanged::decl(&cfg),
            SignInUrl::decl(&cfg),
            UpdateSchedule::decl(&cfg),
            AvailableUpdate::decl(&cfg),
            UpdatePhase::decl(&cfg),
            UpdateStatus::decl(&cfg),
            ErrorKind::decl(&cfg),
            CommandError::decl(&cfg),
            ProviderKind::decl(&cfg),
            AssistantSettings::decl(&cfg),
            ProviderInfo::decl(&cfg),
            KeyStore::decl(&cfg),
            StoredKey::decl(&cfg),
            ConnectionTest::decl(&cfg),
            Outgoing::decl(&cfg),
            NetworkChanged::decl(&cfg),
            Snippet::decl(&cfg),
            SearchHit::decl(&cfg),
            SessionEnd::decl(&cfg),
            AuthRequired::decl(&cfg),
        ];
        for declaration in declarations {
            // A declaration may open with its doc comment: export the `type` line.
            let exported = match declaration.strip_prefix("type ") {
                Some(rest) => format!("export type {rest}"),
                None => declaration.replacen("\ntype ", "\nexport type ", 1),
            };
            out += &format!("{exported}\n\n");
        }
        let quoted =
            |names: &mut dyn Iterator<Item = String>| names.map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
        let kinds = |kinds: &[ErrorKind]| {
            quoted(&mut kinds.iter().map(|k| serde_json::to_value(k).unwrap().as_str().unwrap().to_owned()))
        };
        out += &format!("export const ERROR_KINDS = [{}] as const;\n\n", kinds(&ErrorKind::ALL));
        out += &format!(
            "/** The kinds a failed sign-in itself reports. */\nexport const SIGN_IN_ERROR_KINDS = [{}] as const;\n\n",
            kinds(&ErrorKind::SIGN_IN)
        );
        out += "/** The error kind of a command that got this HTTP status from a server. */\nexport const STATUS_KINDS: Record<number, ErrorKind> = {\n";
        for status in [400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504] {
            out += &format!(
                "  {status}: \"{}\",\n",
                serde_json::to_value(ErrorKind::of_status(status)).unwrap().as_str().unwrap()
            );
        }
        out += "};\n\n";
        let commands = commands();
        out += &format!(
            "export const COMMANDS = [{}] as const;\n\n",
            quoted(&mut commands.iter().map(|c| c.name.to_owned()))
        );
        out += "export type CommandName = (typeof COMMANDS)[number];\n\n";
        out += "/** Each command's arguments (as the UI passes them: camelCase) and result. */\nexport interface Commands {\n";
        for command in &commands {
            let args: Vec<String> = command
                .args
                .iter()
                .map(|(name, ty)| {
                    let optional = if ty.ends_with(" | null") { "?" } else { "" };
                    format!("{}{optional}: {ty}", camel_case(name))
                })
                .collect();
            let args =
                if args.is_empty() { "Record<string, never>".to_owned() } else { format!("{{ {} }}", args.join("; ")) };
            out += &format!("  {}: {{ args: {args}; result: {} }};\n", command.name, command.result);
        }
        out += "}\n\n/** Each event's payload. */\nexport interface Events {\n";
        for (name, payload) in events() {
            out += &format!("  \"{name}\": {payload};\n");
        }
        out += "}\n";
        out
    }

    /// Tauri passes a command's `snake_case` arguments under `camelCase` names.
    fn camel_case(name: &str) -> String {
        let mut parts = name.split('_');
        let first = parts.next().unwrap_or_default().to_owned();
        parts.fold(first, |mut out, part| {
            let mut chars = part.chars();
            if let Some(c) = chars.next() {
                out.extend(c.to_uppercase());
                out.push_str(chars.as_str());
            }
            out
        })
    }

    const BINDINGS: &str = "ui/src/contract.ts";
    const CAPABILITY: &str = "src-tauri/capabilities/main.json";

    #[test]
    fn the_ui_bindings_are_generated_from_this_contract() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(BINDINGS);
        let expected = typescript();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == expected,
            "{BINDINGS} is stale: run `UPDATE_BINDINGS=1 cargo test -p superset-desktop --lib contract`"
        );
    }

    #[test]
    fn the_capability_allows_exactly_the_commands() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CAPABILITY);
        let capability: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let allowed: Vec<&str> = capability["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
            .collect();
        let commands: Vec<String> = commands().iter().map(|c| c.name.replace('_', "-")).collect();
        assert_eq!(allowed, commands, "{CAPABILITY} must allow the commands of command_list.rs, in its order");
    }

    #[test]
    fn arguments_are_camel_cased_and_optional_when_nullable() {
        assert_eq!(camel_case("session_id"), "sessionId");
        assert_eq!(camel_case("stop"), "stop");
        let ts = typescript();
        assert!(
            ts.contains("  stop: { args: { sessionId: string; messageId?: string | null }; result: null };"),
            "{ts}"
        );
        assert!(
            ts.contains("subscribe_session: { args: { sessionId: string; onEvent: Channel<ChatFeed> }; result: null }")
        );
    }

    /// The devices dialog reads these names; `u32` (not the client's `u64`) so the count
    /// is a TypeScript `number`.
    #[test]
    fn device_commands_speak_camel_case_numbers() {
        let ts = typescript();
        assert!(ts.contains("  revoke_device: { args: { deviceId: string }; result: RevokedDevice };"), "{ts}");
        assert!(ts.contains("  revoke_other_devices: { args: Record<string, never>; result: number };"), "{ts}");
        let wire = serde_json::to_value(RevokedDevice { revoked: true, signed_out: false }).unwrap();
        assert_eq!(wire, serde_json::json!({"revoked": true, "signedOut": false}));
        let device: Device = serde_json::from_value(serde_json::json!({
            "id": "s1", "client": null, "createdAt": "2026-01-01T00:00:00Z", "lastUsedAt": "2026-01-02T00:00:00Z",
            "expiresAt": "2026-02-01T00:00:00Z", "ip": "127.0.0.1", "current": true,
        }))
        .unwrap();
        assert_eq!(serde_json::to_value(&device).unwrap()["lastUsedAt"], "2026-01-02T00:00:00Z");
    }
}
