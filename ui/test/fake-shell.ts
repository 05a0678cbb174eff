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
  type ProviderKind,
  type StoredKey,
  type Outgoing,
  type SearchHit,
  type SessionEnd,
  type Update,
  type AvailableUpdate,
  type UpdateSchedule,
  type UpdateStatus,
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
  /** The assistant settings (`assistant.json`); echo if unset. */
  assistant?: { provider: ProviderKind; model?: string | null; baseUrl?: string | null };
  /** Model servers by base URL (no trailing slash): what listing their models finds. */
  modelServers?: Record<string, ModelServer>;
  /** The servers can't be reached: the shell answers from its local copy (see setServersReachable). */
  serversDown?: boolean;
}

/** A model server as `list_models` / `test_connection` find it. */
export type ModelServer =
  | { kind: "models"; models: string[]; key?: string }
  | { kind: "not-an-api" }
  | { kind: "error"; status: number; message: string };

const PROVIDER_DEFAULTS: Record<ProviderKind, { model: string; baseUrl: string | null; name: string }> = {
  echo: { model: "echo", baseUrl: null, name: "The echo assistant" },
  anthropic: { model: "claude-sonnet-4-5", baseUrl: "https://api.anthropic.com", name: "Anthropic" },
  openai: { model: "gpt-4o-mini", baseUrl: "https://api.openai.com/v1/", name: "The server" },
};

interface StoredSession {
  meta: ChatInfo;
  /** Every update sent so far: a new subscriber gets them all, as the shell replays. */
  updates: Update[];
}

interface Generation {
  sessionId: string;
  /** The user message answered. */
  parentId: string;
  /** Set: the reply fails with this after its pieces. */
  error: string | null;
  message: Message | null;
  /** The model that writes the reply, recorded on it as the stream does. */
  model: string;
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
  /** Commands whose answers wait (`hold`) until released: a slow network. */
  private held = new Map<string, Promise<void>>();
  /** Pieces of the next reply (text deltas); defaultReply() if unset. */
  nextReply: string[] | null = null;
  /** When set, the next reply fails with this error after its pieces. */
  nextReplyError: string | null = null;
  replyMode: "auto" | "manual";
  replyIntervalMs: number;
  sessions = new Map<string, StoredSession>();
  devices: Device[];
  opened: string[] = [];
  /** The servers can't be reached: chats read from the local copy, messages wait in the outbox. */
  serversDown = false;
  /** The outbox: messages typed while the servers were down, oldest first. */
  queued: Outgoing[] = [];
  /** The save dialog's answer for the next export: a path, or null (cancelled); default: the suggested name in ~/Documents. */
  exportAnswer: string | null | undefined = undefined;
  /** Every export saved: the chat, the format, where. */
  exports: Array<{ sessionId: string; format: string; path: string }> = [];
  /** The open dialog's answer for the next import: the conversation the chosen file holds, or null (cancelled). */
  importAnswer: ScenarioSession | null = null;
  private signInPending: { resolve: (v: unknown) => void; reject: (e: unknown) => void } | null = null;
  private channels = new Map<string, { id: number; index: number }>();
  private generations = new Map<string, Generation>();
  /** assistant.json as the shell keeps it. */
  assistant: { provider: ProviderKind; model: string | null; baseUrl: string | null };
  modelServers: Record<string, ModelServer>;
  /** Where each key is, as the shell answers it (the keys themselves stay in `secrets`). */
  keys: Partial<Record<ProviderKind, StoredKey>> = {};
  private secrets: Partial<Record<ProviderKind, string>> = {};
  /** The updater as the shell reports it; `offerUpdate` puts a release in the feed. */
  updater: UpdateStatus = { current: "0.1.0", feed: true, schedule: "daily", available: null, phase: { phase: "idle" }, checkedAt: null };
  /** What the feed holds: a newer release, or none. */
  feedRelease: AvailableUpdate | null = null;
  /** The next install fails with these words; `refused`: for its signature (the offer is then withdrawn). */
  installFailure: { message: string; refused: boolean } | null = null;
  /** Set when an installed update restarted the app. */
  restartedInto: string | null = null;

  constructor(scenario: Scenario = {}) {
    this.assistant = { provider: "echo", model: null, baseUrl: null, ...scenario.assistant };
    this.modelServers = scenario.modelServers ?? {};
    this.signedIn = scenario.signedIn ?? false;
    this.user = scenario.user ?? DEFAULT_USER;
    this.replyMode = scenario.replyMode ?? "auto";
    this.replyIntervalMs = scenario.replyIntervalMs ?? 40;
    this.devices = scenario.devices ?? defaultDevices();
    for (const s of scenario.sessions ?? []) this.addSession(s);
    this.serversDown = scenario.serversDown ?? false;
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
    let parentId: string | null = null;
    for (const [role, text] of s.messages ?? []) {
      const message = this.newMessage(role, text, "complete", newId("m"), parentId);
      this.message(stored, message);
      parentId = message.id;
    }
    return meta;
  }

  sessionByTitle(title: string): StoredSession | undefined {
    return [...this.sessions.values()].find((s) => s.meta.title === title);
  }

  callsOf(cmd: string): Call[] {
    return this.calls.filter((c) => c.cmd === cmd);
  }

  /** Every later `cmd` waits to answer until the returned function is called. */
  hold(cmd: CommandName): () => void {
    let release = () => {};
    this.held.set(cmd, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.held.delete(cmd);
      release();
    };
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

  /** False once the test's mocks are cleared. */
  static windowOpen(): boolean {
    const internals = (window as unknown as { __TAURI_INTERNALS__?: { runCallback?: unknown } }).__TAURI_INTERNALS__;
    return typeof internals?.runCallback === "function";
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

  // ---- updates ----

  /** The feed gets a newer release, and the shell's scheduled check finds it. */
  offerUpdate(version: string, notes: string | null = null): void {
    this.feedRelease = { version, notes };
    void this.checkForUpdate();
  }

  private setUpdate(patch: Partial<UpdateStatus>): UpdateStatus {
    this.updater = { ...this.updater, ...patch };
    void this.emit("update:changed", this.updater);
    return this.updater;
  }

  private checkForUpdate(): UpdateStatus {
    return this.setUpdate({ available: this.feedRelease, phase: { phase: "idle" }, checkedAt: iso() });
  }

  /** As the shell does: progress in steps, then the restart; or a failure, and the running version stays. */
  private async installUpdate(): Promise<null> {
    const release = this.updater.available;
    if (!release) throw { kind: "invalid", message: "There is no update to install: check for updates first." };
    const total = 3_000_000;
    for (const received of [0, 1_000_000, 2_000_000]) {
      this.setUpdate({ phase: { phase: "downloading", received, total } });
      await new Promise((done) => setTimeout(done, 5));
    }
    if (this.installFailure) {
      const { message, refused } = this.installFailure;
      this.installFailure = null;
      this.setUpdate({ phase: { phase: "install_failed", message }, available: refused ? null : release });
      throw { kind: "invalid", message };
    }
    this.setUpdate({ phase: { phase: "installing" } });
    this.restartedInto = release.version;
    return null;
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
    const held = this.held.get(cmd);
    // Only a held command waits: an extra tick would reorder the others' answers.
    if (held) await held;
    const queued = this.failures.get(cmd);
    if (queued?.length) throw queued.shift();
    if (this.offline) throw OFFLINE;
    if (this.serversDown) {
      const answer = this.whileServersDown(cmd, args);
      if (answer !== undefined) return answer;
    }
    switch (cmd) {
      case "get_config":
        return { proxyUrl: PROXY_URL, signedIn: this.signedIn };
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
      // ---- models: local settings, answered signed in or not ----
      case "get_settings":
        return this.settings();
      case "save_settings":
        return this.saveSettings(args);
      case "set_api_key":
        return this.setKey(args.provider as ProviderKind, this.text(args, "key"));
      case "delete_api_key":
        delete this.keys[args.provider as ProviderKind];
        delete this.secrets[args.provider as ProviderKind];
        return null;
      case "list_models":
        return this.listModels(args.provider as ProviderKind, args.baseUrl as string | undefined);
      case "test_connection":
        return this.testConnection(args.provider as ProviderKind, args.baseUrl as string | undefined);
      // ---- updates: the shell's own, signed in or not ----
      case "update_status":
        return this.updater;
      case "check_for_update":
        return this.checkForUpdate();
      case "set_update_schedule":
        return this.setUpdate({ schedule: args.schedule as UpdateSchedule });
      case "install_update":
        return this.installUpdate();
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
      case "stop":
        return this.stop(this.session(args), args.messageId);
      case "subscribe_session":
        return this.subscribe(this.session(args), args.onEvent);
      case "unsubscribe_session":
        this.channels.delete(String(args.sessionId));
        return null;
      // ---- branches ----
      case "send_message":
        return this.send(this.session(args), this.text(args, "content"), this.parent(args), this.pick(args));
      case "regenerate":
        return this.regenerate(this.session(args), this.text(args, "messageId"), this.pick(args));
      case "edit_message":
        return this.edit(this.session(args), this.text(args, "messageId"), this.text(args, "content"), this.pick(args));
      // ---- models ----
      case "set_system_prompt":
        this.message(this.session(args), this.newMessage("system", String(args.prompt ?? "").trim(), "complete"));
        return null;
      // ---- replica: offline reading and the outbox ----
      case "queued_messages":
        return [...this.queued];
      case "network_status":
        return { offline: this.serversDown };
      // ---- search ----
      case "search":
        return this.search(String(args.query ?? ""), Number(args.limit ?? 0));
      case "export_chat":
        return this.exportChat(this.session(args), String(args.format));
      case "import_chat": {
        const answer = this.importAnswer;
        this.importAnswer = null;
        return answer ? this.addSession(answer) : null;
      }
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

  private newMessage(
    role: Message["role"], text: string, status: Message["status"], id = newId("m"), parentId: string | null = null,
    model: string | null = null,
  ): Message {
    const actorId = role === "user" ? this.user.id : "assistant";
    return { id, role, actorId, text, status, error: null, createdAt: iso(), parentId, model };
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
    // Like the real shell: the history folded into one batch (the title and each
    // message as it stands), then live events, after the reply.
    setTimeout(() => {
      // A replay still due when its test ended (the mocks cleared) has no window to go to.
      if (!FakeShell.windowOpen()) return;
      if (this.channels.get(id)?.id === Number(match[1])) this.feed(id, { kind: "updates", updates: this.history(stored) });
    }, 0);
    return null;
  }

  // ---- branches: messages name their parent; regenerate and edit add versions ----

  private parent(args: Record<string, unknown>): string | null {
    const parentId = args.parentId ?? null;
    if (parentId !== null && typeof parentId !== "string") throw { kind: "invalid", message: "parentId must be a string" };
    return parentId;
  }

  /** A message of the session as it now stands (the last update that carried it whole). */
  messageOf(stored: StoredSession, id: string): Message | undefined {
    let found: Message | undefined;
    for (const u of stored.updates) if (u.kind === "message" && u.message.id === id) found = u.message;
    return found;
  }

  /** The composer's model pick for this reply, if any. */
  private pick(args: Record<string, unknown>): string | undefined {
    return typeof args.model === "string" ? args.model : undefined;
  }

  private regenerate(stored: StoredSession, messageId: string, model?: string): Commands["regenerate"]["result"] {
    const message = this.messageOf(stored, messageId);
    if (!message) throw { kind: "invalid", message: "That message is not in this chat." };
    const question = message.role === "user" ? message.id : message.parentId;
    if (!question) throw { kind: "invalid", message: "This reply answers no message of yours." };
    this.reply(stored, question, this.messageOf(stored, question)?.text ?? "", model);
    return { messageId: question };
  }

  private edit(stored: StoredSession, messageId: string, content: string, model?: string): Commands["edit_message"]["result"] {
    const message = this.messageOf(stored, messageId);
    if (message?.role !== "user") throw { kind: "invalid", message: "Only your own messages can be edited." };
    return this.send(stored, content, message.parentId, model);
  }

  private send(
    stored: StoredSession, content: string, parentId: string | null, model?: string, messageId = newId("m"),
  ): Commands["send_message"]["result"] {
    this.message(stored, this.newMessage("user", content, "complete", messageId, parentId));
    this.reply(stored, messageId, content, model);
    return { messageId };
  }

  private reply(stored: StoredSession, question: string, content: string, model?: string): void {
    const generation: Generation = {
      parentId: question,
      error: this.nextReplyError,
      sessionId: stored.meta.sessionId,
      message: null,
      model: model ?? this.assistant.model ?? PROVIDER_DEFAULTS[this.assistant.provider].model,
      messageId: newId("a"),
      pieces: this.nextReply ?? defaultReply(content),
      timer: null,
    };
    this.nextReply = null;
    this.nextReplyError = null;
    this.generations.set(generation.sessionId, generation);
    if (this.replyMode === "auto") this.schedule(generation);
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
      generation.message = this.newMessage(
        "assistant", piece, "streaming", generation.messageId, generation.parentId, generation.model,
      );
      this.message(stored, generation.message);
    } else if (piece !== undefined) {
      generation.message!.text += piece;
      this.update(stored, { kind: "delta", id: generation.messageId, text: piece });
    } else {
      const message = generation.message ?? this.newMessage("assistant", "", "streaming", generation.messageId, generation.parentId);
      message.status = generation.error ? "failed" : "complete";
      message.error = generation.error;
      this.message(stored, message);
      this.generations.delete(generation.sessionId);
    }
  }

  private stop(stored: StoredSession, messageId: unknown): null {
    const generation = this.generations.get(stored.meta.sessionId);
    if (!generation || (messageId !== undefined && messageId !== generation.messageId)) return null;
    if (generation.timer) clearTimeout(generation.timer);
    this.generations.delete(stored.meta.sessionId);
    const message = generation.message ?? this.newMessage("assistant", "", "streaming", generation.messageId, generation.parentId);
    message.status = "stopped";
    this.message(stored, message);
    return null;
  }

  // ---- models ----

  private settings(): Commands["get_settings"]["result"] {
    const kinds: ProviderKind[] = ["echo", "anthropic", "openai"];
    return {
      ...this.assistant,
      providers: kinds.map((provider) => ({
        provider,
        defaultModel: PROVIDER_DEFAULTS[provider].model,
        defaultBaseUrl: PROVIDER_DEFAULTS[provider].baseUrl,
        needsKey: provider === "anthropic",
        key: this.keys[provider] ?? null,
      })),
    };
  }

  private saveSettings(args: Record<string, unknown>): Commands["get_settings"]["result"] {
    const blank = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim() : null);
    const provider = args.provider as ProviderKind;
    const baseUrl = provider === "echo" ? null : blank(args.baseUrl);
    if (baseUrl && !/^https?:\/\//.test(baseUrl)) {
      throw { kind: "invalid", message: `The base URL "${baseUrl}" is not an http:// or https:// address. Fix it in Settings.` };
    }
    this.assistant = { provider, model: blank(args.model), baseUrl };
    return this.settings();
  }

  private setKey(provider: ProviderKind, key: string): StoredKey {
    if (provider === "echo") throw { kind: "invalid", message: "The echo assistant needs no key." };
    const trimmed = key.trim();
    this.secrets[provider] = trimmed;
    const stored: StoredKey = { store: "keyring", file: null, ending: trimmed.length >= 16 ? trimmed.slice(-4) : null };
    this.keys[provider] = stored;
    return stored;
  }

  /** As superset-client's `list_models`: the models, or what is wrong in words. */
  private listModels(provider: ProviderKind, baseUrl?: string): string[] {
    if (provider === "echo") return ["echo"];
    if (provider === "anthropic" && !this.secrets.anthropic) {
      throw { kind: "invalid", message: "Anthropic needs an API key. Add one, then test again." };
    }
    const base = (baseUrl?.trim() || PROVIDER_DEFAULTS[provider].baseUrl!).replace(/\/+$/, "");
    const server = this.modelServers[base];
    const name = PROVIDER_DEFAULTS[provider].name;
    if (!server) throw { kind: "network", message: `Nothing answered at ${base}/. Is the server running?` };
    switch (server.kind) {
      case "models":
        if (server.key !== undefined && server.key !== this.secrets[provider]) {
          throw { kind: "invalid", message: `${name} refused the API key (401). Check it, or set a new one.` };
        }
        // As the client does: an OpenAI-compatible server's list sorted by name.
        return provider === "openai" ? [...server.models].sort() : [...server.models];
      case "not-an-api":
        throw {
          kind: "invalid",
          message: provider === "anthropic"
            ? "That address answered, but not like the Anthropic API. Is the base URL right? Anthropic's is https://api.anthropic.com."
            : "That address answered, but not like an OpenAI-compatible API. Does the base URL end in /v1?",
        };
      case "error":
        throw { kind: "invalid", message: `${name} answered ${server.status}: ${server.message}` };
    }
  }

  private testConnection(provider: ProviderKind, baseUrl?: string): Commands["test_connection"]["result"] {
    try {
      const models = this.listModels(provider, baseUrl);
      const count = models.length === 1 ? "1 model" : `${models.length} models`;
      return { ok: true, message: `Connected: ${count} available.`, detail: null, models };
    } catch (error) {
      return { ok: false, message: (error as CommandError).message, detail: null, models: [] };
    }
  }

  // ---- replica: offline reading and the outbox ----

  /**
   * The servers go down or come back, as the real shell notices them: it says so
   * (`network:changed`), open chats keep reconnecting, and once back the outbox is
   * sent in order, each message once, and answered.
   */
  setServersReachable(reachable: boolean): void {
    this.serversDown = !reachable;
    void this.emit("network:changed", { offline: !reachable });
    if (!reachable) {
      for (const id of this.channels.keys()) {
        this.feed(id, { kind: "error", message: "Can't reach the server.", detail: "cannot connect: connection refused", retrying: true, retryInSecs: 5 });
      }
      return;
    }
    for (const id of this.channels.keys()) this.feed(id, { kind: "updates", updates: [] });
    const queued = this.queued;
    this.queued = [];
    for (const message of queued) {
      const stored = this.sessions.get(message.sessionId);
      if (stored) this.send(stored, message.content, message.parentId ?? null, message.model ?? undefined, message.messageId);
    }
    void this.emit("outbox:changed", []);
  }

  /** What the shell answers while the servers are down; `undefined`: as usual. */
  private whileServersDown(cmd: CommandName, args: Record<string, unknown>): unknown {
    switch (cmd) {
      // Answered from the shell's local copy (the cached user, the chat list, the replicas).
      case "get_config":
      case "current_user":
      case "list_sessions":
      case "unsubscribe_session":
      case "ui_ready":
      case "queued_messages":
      case "network_status":
      case "sign_out":
      case "search":
      case "update_status":
      case "check_for_update":
      case "set_update_schedule":
      case "install_update":
        return undefined;
      case "subscribe_session": {
        const answer = this.subscribe(this.session(args), args.onEvent);
        const id = String(args.sessionId);
        setTimeout(() => {
          if (this.channels.has(id) && this.serversDown) {
            this.feed(id, { kind: "error", message: "Can't reach the server.", detail: "cannot connect: connection refused", retrying: true, retryInSecs: 5 });
          }
        }, 0);
        return answer;
      }
      case "send_message": {
        const stored = this.session(args);
        const message: Outgoing = {
          sessionId: stored.meta.sessionId,
          messageId: newId("m"),
          content: this.text(args, "content"),
          parentId: this.parent(args),
          model: this.pick(args) ?? null,
          queuedAt: iso(),
        };
        this.queued.push(message);
        void this.emit("outbox:changed", [...this.queued]);
        return { messageId: message.messageId };
      }
      default:
        throw { kind: "network", message: "Can't reach the server." };
    }
  }

  // ---- search ----

  /** The batch the shell sends a new subscriber: the title and every message as they stand. */
  history(stored: StoredSession): Update[] {
    let title: string | null = null;
    for (const update of stored.updates) {
      if (update.kind === "reset") title = null;
      if (update.kind === "title") title = update.title;
    }
    const messages = this.messagesOf(stored).map((message): Update => ({ kind: "message", message }));
    return title === null ? messages : [{ kind: "title", title }, ...messages];
  }

  /** The messages as the updates so far leave them. */
  private messagesOf(stored: StoredSession): Message[] {
    const messages: Message[] = [];
    for (const update of stored.updates) {
      if (update.kind === "reset") messages.length = 0;
      if (update.kind === "message") {
        const at = messages.findIndex((m) => m.id === update.message.id);
        if (at >= 0) messages[at] = { ...update.message };
        else messages.push({ ...update.message });
      }
      if (update.kind === "delta") {
        const message = messages.find((m) => m.id === update.id);
        if (message) message.text += update.text;
      }
    }
    return messages;
  }

  /** As the shell's index: case-insensitive, titles first, newer chats first. */
  private search(query: string, limit: number): SearchHit[] {
    const needle = query.trim().toLowerCase();
    if (!needle) return [];
    const sessions = [...this.sessions.values()].sort((a, b) => b.meta.lastActivityAt.localeCompare(a.meta.lastActivityAt));
    const snippet = (text: string) => {
      const at = text.toLowerCase().indexOf(needle);
      if (at < 0) return null;
      return { before: text.slice(0, at), matched: text.slice(at, at + needle.length), after: text.slice(at + needle.length) };
    };
    const hits: SearchHit[] = [];
    for (const s of sessions) {
      const found = snippet(s.meta.title ?? "");
      if (found) hits.push({ chatId: s.meta.sessionId, messageId: null, chatTitle: s.meta.title, snippet: found });
    }
    for (const s of sessions) {
      for (const m of this.messagesOf(s).reverse()) {
        const found = snippet(m.text);
        if (found) hits.push({ chatId: s.meta.sessionId, messageId: m.id, chatTitle: s.meta.title, snippet: found });
      }
    }
    return hits.slice(0, limit);
  }

  private exportChat(stored: StoredSession, format: string): string | null {
    if (format !== "markdown" && format !== "json") throw { kind: "invalid", message: `cannot export as "${format}": choose markdown or json` };
    const answer = this.exportAnswer;
    this.exportAnswer = undefined;
    const name = `${stored.meta.title ?? "Untitled chat"}.${format === "json" ? "json" : "md"}`;
    const path = answer === undefined ? `/home/ada/Documents/${name}` : answer;
    if (path !== null) this.exports.push({ sessionId: stored.meta.sessionId, format, path });
    return path;
  }
}
