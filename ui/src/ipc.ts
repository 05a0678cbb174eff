// The desktop shell's commands and events, typed. Everything the UI knows about the
// outside world goes through here (the Rust side does all network calls).

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { openUrl } from "@tauri-apps/plugin-opener";

export type ErrorKind = "auth_required" | "network" | "server" | "invalid" | "not_found";

export interface CommandError {
  kind: ErrorKind;
  message: string;
}

export type SignInErrorKind = "cancelled" | "timeout" | "network" | "server";

export interface SignInError {
  kind: SignInErrorKind;
  message: string;
}

export interface Config {
  proxyUrl: string;
  authToken: string | null;
}

export interface User {
  id: string;
  name: string | null;
  email: string | null;
  image: string | null;
}

export interface SessionMeta {
  sessionId: string;
  title: string | null;
  createdAt: string;
  lastActivityAt: string;
  streamUrl: string;
}

export type SessionFeed =
  | { kind: "events"; events: unknown[] }
  | { kind: "closed" }
  | { kind: "error"; message: string; retrying: boolean };

/** The screens the UI can show first, as the shell's `ui_ready` names them. */
export type FirstScreen = "sign-in" | "chat";

export interface AuthChanged {
  signedIn: boolean;
  expiresAt: string | null;
}

const ERROR_KINDS: readonly string[] = ["auth_required", "network", "server", "invalid", "not_found"];
const SIGN_IN_KINDS: readonly string[] = ["cancelled", "timeout", "network", "server"];

function describe(raw: unknown): { kind: unknown; message: string } {
  if (typeof raw === "object" && raw !== null) {
    const { kind, message } = raw as { kind?: unknown; message?: unknown };
    return { kind, message: typeof message === "string" ? message : String(kind ?? "Unknown error") };
  }
  return { kind: undefined, message: String(raw) };
}

/** Any rejection as a CommandError; an unexpected shape is a bug, not worth retrying. */
export function toCommandError(raw: unknown): CommandError {
  const { kind, message } = describe(raw);
  return ERROR_KINDS.includes(kind as string)
    ? { kind: kind as ErrorKind, message }
    : { kind: "invalid", message };
}

function toSignInError(raw: unknown): SignInError {
  const { kind, message } = describe(raw);
  if (SIGN_IN_KINDS.includes(kind as string)) return { kind: kind as SignInErrorKind, message };
  // sign_in may also fail like any other command (e.g. `invalid`): show it as a server fault.
  return { kind: "server", message };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    throw toCommandError(raw);
  }
}

export function isCommandError(value: unknown): value is CommandError {
  return typeof value === "object" && value !== null && ERROR_KINDS.includes((value as CommandError).kind);
}

export const api = {
  getConfig: () => call<Config>("get_config"),
  currentUser: () => call<User | null>("current_user"),
  async signIn(): Promise<{ signedIn: true; expiresAt: string }> {
    try {
      return await invoke("sign_in");
    } catch (raw) {
      throw toSignInError(raw);
    }
  },
  cancelSignIn: () => call<null>("cancel_sign_in"),
  signOut: () => call<null>("sign_out"),
  listSessions: () => call<SessionMeta[]>("list_sessions"),
  startSession: (title?: string) => call<SessionMeta>("start_session", title ? { title } : {}),
  renameSession: (sessionId: string, title: string) => call<SessionMeta>("rename_session", { sessionId, title }),
  deleteSession: (sessionId: string) => call<null>("delete_session", { sessionId }),
  sendMessage: (sessionId: string, content: string) => call<{ messageId: string }>("send_message", { sessionId, content }),
  stop: (sessionId: string, messageId?: string) =>
    call<null>("stop", messageId ? { sessionId, messageId } : { sessionId }),
  subscribeSession(sessionId: string, onFeed: (feed: SessionFeed) => void): Promise<null> {
    const onEvent = new Channel<SessionFeed>(onFeed);
    return call<null>("subscribe_session", { sessionId, onEvent });
  },
  unsubscribeSession: (sessionId: string) => call<null>("unsubscribe_session", { sessionId }),
  /** Tells the shell the first screen is painted (the end of start-up, in its log). */
  uiReady: (screen: FirstScreen) => call<null>("ui_ready", { screen }),
  /** Opens a link from a reply in the system browser, never inside the app window. */
  openLink: (url: string) => openUrl(url),
  onAuthChanged: (handler: (payload: AuthChanged) => void): Promise<UnlistenFn> =>
    listen<AuthChanged>("auth:changed", (event) => handler(event.payload)),
  onAuthRequired: (handler: () => void): Promise<UnlistenFn> => listen("auth:required", () => handler()),
  /** The sign-in page the shell opened, to offer when no browser came up. */
  onSignInUrl: (handler: (url: string) => void): Promise<UnlistenFn> =>
    listen<{ url: string }>("auth:sign-in-url", (event) => handler(event.payload.url)),
};

export type Api = typeof api;
