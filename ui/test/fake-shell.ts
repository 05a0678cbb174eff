// A scriptable stand-in for the desktop shell (src-tauri), installed with
// @tauri-apps/api/mocks. It speaks the contract generated from the real shell
// (src/contract.ts): the same command list and argument names, result and error
// types, events, and the Channel wire format ({message, index} to the channel's
// callback). A chat's feed carries conversation updates, as the real shell sends them
// once it has read the chat's events; replies stream as a message, then deltas.
// Unit tests (jsdom) and the browser end-to-end tests (bundled into the page) share it.

import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import {
  COMMANDS,
  STATUS_KINDS,
  type ChatFeed,
  type ChatInfo,
  type CommandError,
  type CommandName,
  type Commands,
  type Device,
  type Events,
  type Message,
  type SessionEnd,
  type Update,
  type User,
} from "../src/contract";

export interface ScenarioSession {
  title: string | null;
  /** Minutes since the last activity; sets the list order. */
  minutesAgo?: number;
  /** Messages already in the session: [role, text] pairs, replies complete. */
  messages?: Array<["user" | "assistant", string]>;
}

export interface Scenario {
  signedIn?: boolean;
  user?: User;
  sessions?: ScenarioSession[];
  /** "auto": replies stream on a timer; "manual": the test calls streamNext(). */
  replyMode?: "auto" | "manual";
  replyIntervalMs?: number;
  /** The account's devices; defaultDevices() if unset. */
  devices?: Device[];
}

interface StoredSession {
  meta: ChatInfo;
  /** Every update sent so far: a new subscriber gets them all, as the shell replays. */
  updates: Update[];
}

interface Generation {
  sessionId: string;
  message: Message | null;
  messageId: string;
  pieces: string[];
  timer: ReturnType<typeof setTimeout> | null;
}

export interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

const PROXY_URL = "http://127.0.0.1:8787";
const AUTH_URL = "http://127.0.0.1:8788";
export const DEFAULT_USER: User = { id: "user-1", name: "Ada Lovelace", email: "ada@example.com", image: "https://avatars.example.com/ada.png" };

/** What the real shell answers with the servers down (superset-client's words). */
export const OFFLINE: CommandError = {
  kind: "network",
  message: "Can't reach the server. You're still signed in; try again in a moment.",
  detail: "GET /v1/sessions: cannot connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
};

/** superset-client's words for each kind of HTTP refusal, as the shell forwards them. */
const STATUS_WORDS: Record<CommandError["kind"], string> = {
  auth_required:
    "Your session ended: this device was signed out from another device or the session was revoked. Sign in again.",
  network: "The server is unavailable for the moment. You're still signed in; try again in a moment.",
  server: "The server ran into a problem (error 500). Try again later.",
  invalid: "The server refused the request (error 400).",
  not_found: "Not found: it may have been deleted, here or on another device.",
  cancelled: "Sign-in was cancelled.",
  timeout: "Sign-in took too long and timed out. Try again.",
};

let counter = 0;
function newId(prefix: string): string {
  counter++;
  const random = globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(16)}-${counter}`;
  return prefix ? `${prefix}-${random}` : random;
}

function iso(minutesAgo = 0): string {
  return new Date(Date.now() - minutesAgo * 60_000).toISOString();
}

/** The reply the fake assistant writes when a test scripted none: Markdown with code. */
export function defaultReply(content: string): string[] {
  return ["You said: ", `**${content}**`, "\n\nHere is ", "some code:\n\n", "```ts\nconst answer = 42;\n", "```\n"];
}

/** This device, a phone used an hour ago and a CLI used three days ago. */
export function defaultDevices(): Device[] {
  const device = (id: string, client: string, ip: string, minutesAgo: number, current = false): Device => ({
    id, client, ip, current, createdAt: iso(minutesAgo + 600), lastUsedAt: iso(minutesAgo), expiresAt: iso(-60 * 24 * 30),
  });
  return [
    device("device-here", "superset-desktop/0.1.0 (linux)", "127.0.0.1", 0, true),
    device("device-phone", "Mozilla/5.0 (iPhone)", "203.0.113.7", 60),
    device("device-cli", "superset-cli/0.1.0 (linux; laptop)", "198.51.100.2", 60 * 24 * 3),
  ];
}

export class FakeShell {
  signedIn: boolean;
  user: User;
  calls: Call[] = [];
  offline = false;
  /** Errors the next calls of a command fail with, in order. */
  failures = new Map<string, CommandError[]>();
  /** Pieces of the next reply (text deltas); defaultReply() if unset. */
  nextReply: string[] | null = null;
  replyMode: "auto" | "manual";
  replyIntervalMs: number;
  sessions = new Map<string, StoredSession>();
  devices: Device[];
  opened: string[] = [];
  private signInPending: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | null = null;
  private channels = new Map<string, { id: number; index: number }>();
  private generations = new Map<string, Generation>();

  constructor(scenario: Scenario = {}) {
    this.signedIn = scenario.signedIn ?? false;
    this.user = scenario.user ?? DEFAULT_USER;
    this.replyMode = scenario.replyMode ?? "auto";
    this.replyIntervalMs = scenario.replyIntervalMs ?? 40;
    this.devices = scenario.devices ?? defaultDevices();
    for (const s of scenario.sessions ?? []) this.addSession(s);
  }

  install(): this {
    mockWindows("main");
    mockIPC((cmd, args) => this.handle(cmd, (args ?? {}) as Record<string, unknown>), { shouldMockEvents: true });
    return this;
  }

  // ---- what tests do to the shell ----

  addSession(s: ScenarioSession): ChatInfo {
    const sessionId = newId("");
    const meta: ChatInfo = {
      sessionId,
      title: s.title,
      createdAt: iso((s.minutesAgo ?? 0) + 60),
      lastActivityAt: iso(s.minutesAgo ?? 0),
      streamUrl: `${PROXY_URL}/v1/stream/sessions/${sessionId}`,
    };
    const stored: StoredSession = { meta, updates: [] };
    this.sessions.set(sessionId, stored);
    for (const [role, text] of s.messages ?? []) this.message(stored, this.newMessage(role, text, "complete"));
    return meta;
  }

  sessionByTitle(title: string): StoredSession | undefined {
    return [...this.sessions.values()].find((s) => s.meta.title === title);
  }

  callsOf(cmd: string): Call[] {
    return this.calls.filter((c) => c.cmd === cmd);
  }

  failNext(cmd: CommandName, error: CommandError, times = 1): void {
    const queue = this.failures.get(cmd) ?? [];
    for (let i = 0; i < times; i++) queue.push(error);
    this.failures.set(cmd, queue);
  }

  /** The next call fails as the real shell reports a server's HTTP `status`. */
  failWithStatus(cmd: CommandName, status: number, times = 1): void {
    const kind = STATUS_KINDS[status] ?? "server";
    const message = STATUS_WORDS[kind];
    this.failNext(cmd, { kind, message, detail: `GET /v1/sessions: the server answered ${status}` }, times);
  }

  /** The chat's live connection failed, as the real shell reports it with the servers down. */
  loseConnection(sessionId: string, retryInSecs = 5): void {
    this.feed(sessionId, {
      kind: "error",
      message: "Can't reach the server.",
      detail: "cannot connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
      retrying: true,
      retryInSecs,
    });
  }

  signInWaiting(): boolean {
    return this.signInPending !== null;
  }

  completeSignIn(): void {
    const pending = this.signInPending;
    if (!pending) throw new Error("no sign-in is running");
    this.signInPending = null;
    this.signedIn = true;
    const expiresAt = iso(-30 * 24 * 60);
    pending.resolve({ signedIn: true, expiresAt } satisfies Commands["sign_in"]["result"]);
    void this.emit("auth:changed", { signedIn: true, expiresAt });
  }

  failSignIn(kind: "timeout" | "network" | "server", message = `sign-in failed: ${kind}`): void {
    const pending = this.signInPending;
    if (!pending) throw new Error("no sign-in is running");
    this.signInPending = null;
    pending.reject({ kind, message });
  }

  /** The token was refused: what the shell does on a 401 (`expired`: after its local expiry). */
  expire(reason: SessionEnd = "ended"): void {
    this.signedIn = false;
    void this.emit("auth:changed", { signedIn: false, expiresAt: null }).then(() => this.emit("auth:required", { reason }));
  }

  /** Sends a feed item to a session's subscriber, as the shell's Channel would. */
  feed(sessionId: string, item: ChatFeed): void {
    const channel = this.channels.get(sessionId);
    if (!channel) throw new Error(`nobody subscribed to ${sessionId}`);
    const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, data: unknown): void } })
      .__TAURI_INTERNALS__;
    internals.runCallback(channel.id, { message: item, index: channel.index++ });
  }

  subscribed(sessionId: string): boolean {
    return this.channels.has(sessionId);
  }

  /** Manual replies: writes the next `n` pieces of every running reply (all if n is omitted). */
  streamNext(n = Infinity): void {
    for (const generation of [...this.generations.values()]) {
      for (let i = 0; i < n && this.generations.has(generation.sessionId); i++) this.step(generation);
    }
  }

  replyRunning(): boolean {
    return this.generations.size > 0;
  }

  // ---- the commands ----

  private emit<E extends keyof Events>(event: E, payload: Events[E]): Promise<void> {
    return emit(event, payload);
  }

  private async handle(name: string, rawArgs: Record<string, unknown>): Promise<unknown> {
    // Arguments cross the real IPC as JSON (a Channel becomes "__CHANNEL__:<id>").
    const args = JSON.parse(JSON.stringify(rawArgs)) as Record<string, unknown>;
    this.calls.push({ cmd: name, args });
    if (name === "plugin:opener|open_url") {
      this.opened.push(String(args.url));
      return null;
    }
    // The real shell's handler knows exactly the contract's commands.
    if (!(COMMANDS as readonly string[]).includes(name)) throw { kind: "invalid", message: `unknown command ${name}` };
    const cmd = name as CommandName;
    const queued = this.failures.get(cmd);
    if (queued?.length) throw queued.shift();
    if (this.offline) throw OFFLINE;
    switch (cmd) {
      case "get_config":
        return { proxyUrl: PROXY_URL, authToken: this.signedIn ? "test-session-token" : null };
      case "current_user":
        return this.signedIn ? this.user : null;
      case "sign_in":
        return this.signIn();
      case "cancel_sign_in":
        this.signInPending?.reject({ kind: "cancelled", message: "sign-in cancelled" });
        this.signInPending = null;
        return null;
      case "ui_ready":
        if (args.screen !== "sign-in" && args.screen !== "chat") throw { kind: "invalid", message: "unknown screen" };
        return null;
      case "sign_out":
        this.signedIn = false;
        void this.emit("auth:changed", { signedIn: false, expiresAt: null });
        return null;
    }
    if (!this.signedIn) throw { kind: "auth_required", message: "not signed in" };
    switch (cmd) {
      case "list_devices":
        return [...this.devices].sort((a, b) => b.lastUsedAt.localeCompare(a.lastUsedAt));
      case "revoke_device":
        return this.revokeDevice(this.text(args, "deviceId"));
      case "revoke_other_devices": {
        const before = this.devices.length;
        this.devices = this.devices.filter((d) => d.current);
        return before - this.devices.length;
      }
      case "list_sessions":
        return [...this.sessions.values()].map((s) => s.meta).sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
      case "start_session":
        return this.addSession({ title: typeof args.title === "string" ? args.title : null });
      case "rename_session":
        return this.rename(this.session(args), this.text(args, "title"));
      case "delete_session":
        return this.remove(this.session(args));
      case "send_message":
        return this.send(this.session(args), this.text(args, "content"));
      case "stop":
        return this.stop(this.session(args), args.messageId);
      case "subscribe_session":
        return this.subscribe(this.session(args), args.onEvent);
      case "unsubscribe_session":
        this.channels.delete(String(args.sessionId));
        return null;
      default:
        throw { kind: "invalid", message: `unknown command ${cmd}` };
    }
  }

  /** As the shell does: revoking this device signs out here too. */
  private revokeDevice(id: string): Commands["revoke_device"]["result"] {
    const device = this.devices.find((d) => d.id === id);
    this.devices = this.devices.filter((d) => d.id !== id);
    if (!device?.current) return { revoked: device !== undefined, signedOut: false };
    this.signedIn = false;
    void this.emit("auth:changed", { signedIn: false, expiresAt: null });
    return { revoked: true, signedOut: true };
  }

  private session(args: Record<string, unknown>): StoredSession {
    const stored = typeof args.sessionId === "string" ? this.sessions.get(args.sessionId) : undefined;
    if (!stored) throw { kind: "not_found", message: "session not found" };
    return stored;
  }

  private text(args: Record<string, unknown>, field: string): string {
    const value = args[field];
    if (typeof value !== "string" || !value.trim()) throw { kind: "invalid", message: `${field} is required` };
    return value;
  }

  private signIn(): Promise<unknown> {
    if (this.signInPending) return Promise.reject({ kind: "server", message: "a sign-in is already running" });
    // As the real shell does: the URL it opened, for when no browser came up.
    void this.emit("auth:sign-in-url", { url: `${AUTH_URL}/oauth/authorize?client_id=superset-desktop&state=e2e` });
    return new Promise((resolve, reject) => (this.signInPending = { resolve, reject }));
  }

  /** Records an update and sends it to the subscriber, as the shell does after a write. */
  private update(stored: StoredSession, update: Update): void {
    stored.updates.push(update);
    stored.meta = { ...stored.meta, lastActivityAt: iso() };
    if (this.channels.has(stored.meta.sessionId)) this.feed(stored.meta.sessionId, { kind: "updates", updates: [update] });
  }

  private message(stored: StoredSession, message: Message): void {
    this.update(stored, { kind: "message", message: { ...message } });
  }

  private newMessage(role: "user" | "assistant", text: string, status: Message["status"], id = newId("m")): Message {
    return { id, role, actorId: role === "user" ? this.user.id : "assistant", text, status, error: null, createdAt: iso() };
  }

  private rename(stored: StoredSession, title: string): ChatInfo {
    stored.meta = { ...stored.meta, title };
    this.update(stored, { kind: "title", title });
    return stored.meta;
  }

  private remove(stored: StoredSession): null {
    const id = stored.meta.sessionId;
    this.sessions.delete(id);
    this.generations.delete(id);
    if (this.channels.has(id)) this.feed(id, { kind: "closed" });
    this.channels.delete(id);
    return null;
  }

  private subscribe(stored: StoredSession, onEvent: unknown): null {
    const match = /^__CHANNEL__:(\d+)$/.exec(String(onEvent));
    if (!match) throw { kind: "invalid", message: "onEvent must be a Channel" };
    const id = stored.meta.sessionId;
    this.channels.set(id, { id: Number(match[1]), index: 0 });
    // Like the real shell: the history from the start, then live events, after the reply.
    setTimeout(() => {
      if (this.channels.get(id)?.id === Number(match[1])) this.feed(id, { kind: "updates", updates: [...stored.updates] });
    }, 0);
    return null;
  }

  private send(stored: StoredSession, content: string): Commands["send_message"]["result"] {
    const messageId = newId("m");
    this.message(stored, this.newMessage("user", content, "complete", messageId));
    const generation: Generation = {
      sessionId: stored.meta.sessionId,
      message: null,
      messageId: newId("a"),
      pieces: this.nextReply ?? defaultReply(content),
      timer: null,
    };
    this.nextReply = null;
    this.generations.set(generation.sessionId, generation);
    if (this.replyMode === "auto") this.schedule(generation);
    return { messageId };
  }

  private schedule(generation: Generation): void {
    generation.timer = setTimeout(() => {
      if (this.generations.get(generation.sessionId) !== generation) return;
      this.step(generation);
      if (this.generations.get(generation.sessionId) === generation) this.schedule(generation);
    }, this.replyIntervalMs);
  }

  private step(generation: Generation): void {
    const stored = this.sessions.get(generation.sessionId);
    if (!stored) return;
    const piece = generation.pieces.shift();
    if (piece !== undefined && !generation.message) {
      generation.message = this.newMessage("assistant", piece, "streaming", generation.messageId);
      this.message(stored, generation.message);
    } else if (piece !== undefined) {
      generation.message!.text += piece;
      this.update(stored, { kind: "delta", id: generation.messageId, text: piece });
    } else {
      const message = generation.message ?? this.newMessage("assistant", "", "streaming", generation.messageId);
      message.status = "complete";
      this.message(stored, message);
      this.generations.delete(generation.sessionId);
    }
  }

  private stop(stored: StoredSession, messageId: unknown): null {
    const generation = this.generations.get(stored.meta.sessionId);
    if (!generation || (messageId !== undefined && messageId !== generation.messageId)) return null;
    if (generation.timer) clearTimeout(generation.timer);
    this.generations.delete(stored.meta.sessionId);
    const message = generation.message ?? this.newMessage("assistant", "", "streaming", generation.messageId);
    message.status = "stopped";
    this.message(stored, message);
    return null;
  }
}
