// Generated from src-tauri/src/contract.rs: do not edit. Regenerate with
// `UPDATE_BINDINGS=1 cargo test -p superset-desktop --lib contract`.

import type { Channel } from "@tauri-apps/api/core";

export type Config = { proxyUrl: string, signedIn: boolean, };

export type User = { id: string, name: string, email: string, image: string | null, };

export type SignedIn = { signedIn: boolean, expiresAt: string | null, };

export type Device = { id: string, 
/**
 * The `User-Agent` it signed in with, e.g. `superset-cli/0.1.0 (linux; laptop)`.
 */
client: string | null, createdAt: string, 
/**
 * Last use, to within the server's renewal interval (a day by default).
 */
lastUsedAt: string, expiresAt: string, ip: string | null, 
/**
 * Whether it is this one.
 */
current: boolean, };

export type RevokedDevice = { 
/**
 * False when the account had no such device (already signed out elsewhere).
 */
revoked: boolean, 
/**
 * It was this device: the shell signed out, as `sign_out` does.
 */
signedOut: boolean, };

export type Sent = { messageId: string, };

export type Screen = "sign-in" | "chat";

export type ChatInfo = { sessionId: string, title: string | null, createdAt: string, lastActivityAt: string, streamUrl: string, };

export type Role = "user" | "assistant" | "system";

export type MessageStatus = "streaming" | "complete" | "stopped" | "failed";

export type Message = { id: string, role: Role, actorId: string, text: string, status: MessageStatus, error: string | null, createdAt: string, 
/**
 * The message this one follows in its thread (none for a thread's first message
 * and for system messages), resolved as [`Conversation`] describes.
 */
parentId: string | null, 
/**
 * The model that wrote a reply, when its writer said.
 */
model: string | null, };

export type Update = { "kind": "message", message: Message, } | { "kind": "delta", id: string, text: string, } | { "kind": "title", title: string, } | { "kind": "reset" };

export type ChatFeed = { "kind": "updates", updates: Array<Update>, } | { "kind": "closed" } | { "kind": "error", message: string, detail: string | null, retrying: boolean, retryInSecs: number | null, };

export type AuthChanged = { signedIn: boolean, expiresAt: string | null, };

export type SignInUrl = { url: string, };

export type UpdateSchedule = "daily" | "weekly" | "never";

export type AvailableUpdate = { version: string, 
/**
 * The release notes, as the release wrote them (Markdown).
 */
notes: string | null, };

export type UpdatePhase = { "phase": "idle" } | { "phase": "checking" } | { "phase": "check_failed", message: string, } | { "phase": "downloading", received: number, total: number | null, } | { "phase": "installing" } | { "phase": "install_failed", message: string, };

export type UpdateStatus = { 
/**
 * The running version.
 */
current: string, 
/**
 * Whether this build has a release feed (a development build has none).
 */
feed: boolean, schedule: UpdateSchedule, available: AvailableUpdate | null, phase: UpdatePhase, 
/**
 * When the feed last answered.
 */
checkedAt: string | null, };

export type ErrorKind = "auth_required" | "network" | "server" | "invalid" | "not_found" | "cancelled" | "timeout";

export type CommandError = { kind: ErrorKind, 
/**
 * For people: what happened and what to do. Never a URL, a status line or a token.
 */
message: string, 
/**
 * The technical account, shown only behind a "Details" disclosure.
 */
detail: string | null, };

export type ProviderKind = "echo" | "anthropic" | "openai";

export type AssistantSettings = { provider: ProviderKind, 
/**
 * None: the provider's default model.
 */
model: string | null, 
/**
 * None: the provider's default base URL.
 */
baseUrl: string | null, providers: Array<ProviderInfo>, };

export type ProviderInfo = { provider: ProviderKind, defaultModel: string, 
/**
 * None for the echo assistant, which calls no server.
 */
defaultBaseUrl: string | null, 
/**
 * Replies fail without a key (Anthropic); local OpenAI-compatible servers need none.
 */
needsKey: boolean, key: StoredKey | null, };

export type KeyStore = "keyring" | "file";

export type StoredKey = { store: KeyStore, file: string | null, ending: string | null, };

export type ConnectionTest = { ok: boolean, message: string, 
/**
 * The technical cause of a failure, for a "Details" disclosure.
 */
detail: string | null, models: Array<string>, };

export type Outgoing = { sessionId: string, messageId: string, content: string, 
/**
 * The message it follows in its thread, when the caller knows it.
 */
parentId?: string | null, 
/**
 * The model picked for its reply (None: the settings').
 */
model?: string | null, 
/**
 * When it was typed (RFC 3339).
 */
queuedAt: string, };

export type NetworkChanged = { offline: boolean, };

export type Snippet = { 
/**
 * Text before the match, starting with "…" when cut.
 */
before: string, 
/**
 * The match as written (its case kept).
 */
matched: string, 
/**
 * Text after the match, ending with "…" when cut.
 */
after: string, };

export type SearchHit = { chatId: string, 
/**
 * The message holding the match; `None` when the match is in the title.
 */
messageId: string | null, chatTitle: string | null, snippet: Snippet, };

export type SessionEnd = "ended" | "expired";

export type AuthRequired = { reason: SessionEnd, };

export const ERROR_KINDS = ["auth_required", "network", "server", "invalid", "not_found", "cancelled", "timeout"] as const;

/** The kinds a failed sign-in itself reports. */
export const SIGN_IN_ERROR_KINDS = ["cancelled", "timeout", "network", "server"] as const;

/** The error kind of a command that got this HTTP status from a server. */
export const STATUS_KINDS: Record<number, ErrorKind> = {
  400: "invalid",
  401: "auth_required",
  403: "invalid",
  404: "not_found",
  409: "invalid",
  413: "invalid",
  422: "invalid",
  429: "network",
  500: "server",
  502: "network",
  503: "network",
  504: "network",
};

export const COMMANDS = ["get_config", "current_user", "sign_in", "cancel_sign_in", "sign_out", "list_devices", "revoke_device", "revoke_other_devices", "list_sessions", "start_session", "rename_session", "delete_session", "stop", "subscribe_session", "unsubscribe_session", "ui_ready", "send_message", "regenerate", "edit_message", "get_settings", "save_settings", "set_api_key", "delete_api_key", "list_models", "test_connection", "set_system_prompt", "queued_messages", "network_status", "search", "export_chat", "import_chat", "update_status", "check_for_update", "set_update_schedule", "install_update"] as const;

export type CommandName = (typeof COMMANDS)[number];

/** Each command's arguments (as the UI passes them: camelCase) and result. */
export interface Commands {
  get_config: { args: Record<string, never>; result: Config };
  current_user: { args: Record<string, never>; result: User | null };
  sign_in: { args: Record<string, never>; result: SignedIn };
  cancel_sign_in: { args: Record<string, never>; result: null };
  sign_out: { args: Record<string, never>; result: null };
  list_devices: { args: Record<string, never>; result: Array<Device> };
  revoke_device: { args: { deviceId: string }; result: RevokedDevice };
  revoke_other_devices: { args: Record<string, never>; result: number };
  list_sessions: { args: Record<string, never>; result: Array<ChatInfo> };
  start_session: { args: { title?: string | null }; result: ChatInfo };
  rename_session: { args: { sessionId: string; title: string }; result: ChatInfo };
  delete_session: { args: { sessionId: string }; result: null };
  stop: { args: { sessionId: string; messageId?: string | null }; result: null };
  subscribe_session: { args: { sessionId: string; onEvent: Channel<ChatFeed> }; result: null };
  unsubscribe_session: { args: { sessionId: string }; result: null };
  ui_ready: { args: { screen: Screen }; result: null };
  send_message: { args: { sessionId: string; content: string; parentId?: string | null; model?: string | null }; result: Sent };
  regenerate: { args: { sessionId: string; messageId: string; model?: string | null }; result: Sent };
  edit_message: { args: { sessionId: string; messageId: string; content: string; model?: string | null }; result: Sent };
  get_settings: { args: Record<string, never>; result: AssistantSettings };
  save_settings: { args: { provider: ProviderKind; model?: string | null; baseUrl?: string | null }; result: AssistantSettings };
  set_api_key: { args: { provider: ProviderKind; key: string }; result: StoredKey };
  delete_api_key: { args: { provider: ProviderKind }; result: null };
  list_models: { args: { provider: ProviderKind; baseUrl?: string | null }; result: Array<string> };
  test_connection: { args: { provider: ProviderKind; baseUrl?: string | null }; result: ConnectionTest };
  set_system_prompt: { args: { sessionId: string; prompt: string }; result: null };
  queued_messages: { args: Record<string, never>; result: Array<Outgoing> };
  network_status: { args: Record<string, never>; result: NetworkChanged };
  search: { args: { query: string; limit: number }; result: Array<SearchHit> };
  export_chat: { args: { sessionId: string; format: string }; result: string | null };
  import_chat: { args: Record<string, never>; result: ChatInfo | null };
  update_status: { args: Record<string, never>; result: UpdateStatus };
  check_for_update: { args: Record<string, never>; result: UpdateStatus };
  set_update_schedule: { args: { schedule: UpdateSchedule }; result: UpdateStatus };
  install_update: { args: Record<string, never>; result: null };
}

/** Each event's payload. */
export interface Events {
  "auth:changed": AuthChanged;
  "auth:required": AuthRequired;
  "auth:sign-in-url": SignInUrl;
  "update:changed": UpdateStatus;
  "network:changed": NetworkChanged;
  "outbox:changed": Array<Outgoing>;
}
