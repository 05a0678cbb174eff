// The desktop shell's commands and events. Their names, arguments, results, payloads
// and error kinds come from src/contract.ts, generated from the shell's Rust
// (src-tauri/src/contract.rs); this file only calls them. The shell does every
// network call and reads every chat's events; the UI renders what it is sent.

import { Channel, invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { openUrl } from "@tauri-apps/plugin-opener";
import {
  ERROR_KINDS,
  SIGN_IN_ERROR_KINDS,
  type ChatFeed,
  type CommandError,
  type CommandName,
  type Commands,
  type Events,
  type ProviderKind,
  type Screen,
} from "./contract";

export type {
  AssistantSettings,
  ConnectionTest,
  ProviderInfo,
  ProviderKind,
  StoredKey,
  AuthChanged,
  ChatFeed,
  ChatInfo,
  CommandError,
  Config,
  Device,
  ErrorKind,
  Message,
  MessageStatus,
  NetworkChanged,
  Outgoing,
  RevokedDevice,
  Screen,
  SearchHit,
  SessionEnd,
  Update,
  UpdateSchedule,
  UpdateStatus,
  User,
} from "./contract";

export type SignInErrorKind = (typeof SIGN_IN_ERROR_KINDS)[number];

export interface SignInError {
  kind: SignInErrorKind;
  message: string;
  /** The technical account, shown only behind "Details". */
  detail?: string | null;
}

/** A rejection's parts; anything not shaped like the shell's errors is kept as detail. */
function describe(raw: unknown): { kind: unknown; message: string; detail: string | null } {
  if (typeof raw === "object" && raw !== null) {
    const { kind, message, detail } = raw as { kind?: unknown; message?: unknown; detail?: unknown };
    if (typeof message === "string") return { kind, message, detail: typeof detail === "string" ? detail : null };
    return { kind, message: UNEXPECTED, detail: JSON.stringify(raw) };
  }
  return { kind: undefined, message: UNEXPECTED, detail: String(raw) };
}

const UNEXPECTED = "Something went wrong in the app.";

function isKind<K extends string>(kinds: readonly K[], kind: unknown): kind is K {
  return (kinds as readonly unknown[]).includes(kind);
}

/** Any rejection as a CommandError; an unexpected shape is a bug, not worth retrying. */
export function toCommandError(raw: unknown): CommandError {
  const { kind, message, detail } = describe(raw);
  return isKind(ERROR_KINDS, kind) ? { kind, message, detail } : { kind: "invalid", message, detail };
}

function toSignInError(raw: unknown): SignInError {
  const { kind, message, detail } = describe(raw);
  if (isKind(SIGN_IN_ERROR_KINDS, kind)) return { kind, message, detail };
  // sign_in may also fail like any other command (e.g. `invalid`): show it as a server fault.
  return { kind: "server", message, detail };
}

async function call<C extends CommandName>(cmd: C, args?: Commands[C]["args"]): Promise<Commands[C]["result"]> {
  try {
    return await invoke<Commands[C]["result"]>(cmd, args as InvokeArgs | undefined);
  } catch (raw) {
    throw toCommandError(raw);
  }
}

function on<E extends keyof Events>(event: E, handler: (payload: Events[E]) => void): Promise<UnlistenFn> {
  return listen<Events[E]>(event, (e) => handler(e.payload));
}

export function isCommandError(value: unknown): value is CommandError {
  return typeof value === "object" && value !== null && isKind(ERROR_KINDS, (value as CommandError).kind);
}

export const api = {
  getConfig: () => call("get_config"),
  currentUser: () => call("current_user"),
  async signIn(): Promise<Commands["sign_in"]["result"]> {
    try {
      return await invoke<Commands["sign_in"]["result"]>("sign_in");
    } catch (raw) {
      throw toSignInError(raw);
    }
  },
  cancelSignIn: () => call("cancel_sign_in"),
  signOut: () => call("sign_out"),
  /** Where the account is signed in, most recently used first. */
  listDevices: () => call("list_devices"),
  revokeDevice: (deviceId: string) => call("revoke_device", { deviceId }),
  /** Signs out every other device; resolves to how many. */
  revokeOtherDevices: () => call("revoke_other_devices"),
  listSessions: () => call("list_sessions"),
  startSession: (title?: string) => call("start_session", title ? { title } : {}),
  renameSession: (sessionId: string, title: string) => call("rename_session", { sessionId, title }),
  deleteSession: (sessionId: string) => call("delete_session", { sessionId }),
  /** Sends after `parentId` (the last message on screen; null starts the chat). `model`:
   *  the composer's pick for this reply, null for the settings' one. */
  sendMessage: (sessionId: string, content: string, parentId: string | null, model: string | null = null) =>
    call("send_message", { sessionId, content, parentId, model }),
  /** Another version of the reply `messageId` (also Retry of a failed one). */
  regenerate: (sessionId: string, messageId: string, model: string | null = null) =>
    call("regenerate", { sessionId, messageId, model }),
  /** `content` as a new version of the user message `messageId`, then its reply. */
  editMessage: (sessionId: string, messageId: string, content: string, model: string | null = null) =>
    call("edit_message", { sessionId, messageId, content, model }),
  stop: (sessionId: string, messageId?: string) => call("stop", messageId ? { sessionId, messageId } : { sessionId }),
  subscribeSession(sessionId: string, onFeed: (feed: ChatFeed) => void): Promise<null> {
    const onEvent = new Channel<ChatFeed>(onFeed);
    return call("subscribe_session", { sessionId, onEvent });
  },
  unsubscribeSession: (sessionId: string) => call("unsubscribe_session", { sessionId }),
  /** Tells the shell the first screen is painted (the end of start-up, in its log). */
  uiReady: (screen: Screen) => call("ui_ready", { screen }),
  getSettings: () => call("get_settings"),
  saveSettings: (provider: ProviderKind, model: string | null, baseUrl: string | null) =>
    call("save_settings", { provider, model, baseUrl }),
  /** Hands the key to the shell, which answers only where it went. */
  setApiKey: (provider: ProviderKind, key: string) => call("set_api_key", { provider, key }),
  deleteApiKey: (provider: ProviderKind) => call("delete_api_key", { provider }),
  listModels: (provider: ProviderKind, baseUrl?: string) =>
    call("list_models", baseUrl ? { provider, baseUrl } : { provider }),
  testConnection: (provider: ProviderKind, baseUrl?: string) =>
    call("test_connection", baseUrl ? { provider, baseUrl } : { provider }),
  setSystemPrompt: (sessionId: string, prompt: string) => call("set_system_prompt", { sessionId, prompt }),
  /** Opens a link from a reply in the system browser, never inside the app window. */
  openLink: (url: string) => openUrl(url),
  onAuthChanged: (handler: (payload: Events["auth:changed"]) => void) => on("auth:changed", handler),
  /** The server refused the session: `reason` says whether it ended early or expired. */
  onAuthRequired: (handler: (payload: Events["auth:required"]) => void) => on("auth:required", handler),
  /** The sign-in page the shell opened, to offer when no browser came up. */
  onSignInUrl: (handler: (url: string) => void) => on("auth:sign-in-url", (payload) => handler(payload.url)),
  /** Messages typed but not yet sent (every chat's), oldest first. */
  queuedMessages: () => call("queued_messages"),
  /** Whether the servers could be reached the last time the shell asked. */
  networkStatus: () => call("network_status"),
  onNetworkChanged: (handler: (offline: boolean) => void) => on("network:changed", (payload) => handler(payload.offline)),
  onOutboxChanged: (handler: (queued: Events["outbox:changed"]) => void) => on("outbox:changed", handler),
  /** Where the words appear in the account's chats: titles first, at most `limit`. */
  search: (query: string, limit: number) => call("search", { query, limit }),
  /** Saves the chat through the system's save dialog; resolves to the path, or null if cancelled. */
  exportChat: (sessionId: string, format: "markdown" | "json") => call("export_chat", { sessionId, format }),
  /** Imports a JSON export chosen in the system's open dialog; null if cancelled. */
  importChat: () => call("import_chat"),
  /** The running version, the update schedule, and any newer release found. */
  updateStatus: () => call("update_status"),
  checkForUpdate: () => call("check_for_update"),
  setUpdateSchedule: (schedule: Commands["set_update_schedule"]["args"]["schedule"]) =>
    call("set_update_schedule", { schedule }),
  /** Downloads, verifies and installs the update found, then restarts into it. */
  installUpdate: () => call("install_update"),
  onUpdateChanged: (handler: (status: Events["update:changed"]) => void) => on("update:changed", handler),
};

export type Api = typeof api;
