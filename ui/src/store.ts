// The app's state and everything that changes it. Components only read the state and
// call these actions, so the behaviour is testable without a DOM.

import {
  isCommandError,
  type Api,
  type ChatFeed,
  type ChatInfo,
  type CommandError,
  type Device,
  type Message,
  type Screen,
  type SignInError,
  type RevokedDevice,
  type SessionEnd,
  type Update,
  type User,
} from "./ipc";
import { choose, showNewest, turnKey, visibleThread, type VersionChoice } from "./branches";
import { Assistant } from "./settings";
import { Observed } from "./observed";
import { Offline } from "./offline";
import { Updates } from "./updates";
import { forgetChat, lastChat, rememberChat } from "./lastChat";

export type Phase = "loading" | "signed-out" | "signed-in";

export interface SignInState {
  waiting: boolean;
  error: SignInError | null;
  /** The sign-in page opened in the browser, while waiting. */
  url: string | null;
}

/** A problem reaching the server; `source` says what clears it. */
export interface Banner {
  kind: "offline" | "server";
  source: "command" | "stream";
  /** What happened, in plain words (the shell's). */
  message: string;
  /** The technical account, shown only behind "Details". */
  detail: string | null;
  /** True while a retry is scheduled or the shell is reconnecting on its own. */
  retrying: boolean;
  /** When the next try is due (ms since the epoch), for "Retrying in 5 s." */
  retryAt: number | null;
}

export interface ChatView {
  title: string | null;
  /** Every message of every version, in stream order. */
  messages: Message[];
  /** What is on screen: one thread, the versions this window chose (newest by default). */
  thread: Message[];
  /** The versions of each turn (by `turnKey`), in stream order. */
  versions: Record<string, string[]>;
  streaming: Message | null;
  /** The subscription ended (closed or failed for good); what is shown may be stale. */
  live: boolean;
}

export interface State {
  phase: Phase;
  user: User | null;
  signIn: SignInState;
  /** The session expired or was revoked: prompt to sign in again over the app. */
  expired: boolean;
  /** Why the server last refused the session: the sign-in prompt's words. */
  sessionEnd: SessionEnd | null;
  sessions: ChatInfo[];
  /** The chat list came (from the servers or the local copy): until then the sidebar
   *  says it is loading, not that there are no chats. */
  listed: boolean;
  activeId: string | null;
  chat: ChatView | null;
  /** Unsent text per session; "" is the new-chat composer. */
  drafts: Record<string, string>;
  sending: boolean;
  /** The user message whose reply has not started yet (Stop is offered meanwhile). */
  awaitingReplyTo: string | null;
  banner: Banner | null;
  notice: string | null;
  /** The technical account behind the notice, shown only behind "Details". */
  noticeDetail: string | null;
}

/** The open chat as the shell's updates built it: the UI never reads events itself. */
interface Conversation {
  title: string | null;
  messages: Message[];
  /** Where each message is in `messages`: a chat's history comes as one batch of
   *  whole messages, which would otherwise be looked up one by one. */
  at: Map<string, number>;
}

function emptyConversation(): Conversation {
  return { title: null, messages: [], at: new Map() };
}

/** Applies one of the shell's conversation updates. */
function applyUpdate(c: Conversation, update: Update): void {
  switch (update.kind) {
    case "message": {
      const i = c.at.get(update.message.id);
      if (i !== undefined) c.messages[i] = update.message;
      else c.at.set(update.message.id, c.messages.push(update.message) - 1);
      break;
    }
    case "delta": {
      const i = c.at.get(update.id);
      if (i !== undefined) c.messages[i] = { ...c.messages[i], text: c.messages[i].text + update.text };
      break;
    }
    case "title":
      c.title = update.title;
      break;
    case "reset":
      Object.assign(c, emptyConversation());
      break;
  }
}

/** The message still being generated, if any. */
function streaming(c: Conversation): Message | undefined {
  for (let i = c.messages.length - 1; i >= 0; i--) if (c.messages[i].status === "streaming") return c.messages[i];
  return undefined;
}

const NEW_CHAT = "";
const TITLE_LENGTH = 60;
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];

export function initialState(): State {
  return {
    phase: "loading",
    user: null,
    signIn: { waiting: false, error: null, url: null },
    expired: false,
    sessionEnd: null,
    sessions: [],
    listed: false,
    activeId: null,
    chat: null,
    drafts: {},
    sending: false,
    awaitingReplyTo: null,
    banner: null,
    notice: null,
    noticeDetail: null,
  };
}

/** A title for a chat started by its first message. */
export function titleFrom(content: string): string {
  const line = content.trim().split("\n")[0].trim();
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1).trimEnd()}…` : line;
}

function byActivity(a: ChatInfo, b: ChatInfo): number {
  return b.lastActivityAt.localeCompare(a.lastActivityAt);
}

export class Store extends Observed<State> {
  private conversation: Conversation | null = null;
  /** Bumped on every (un)subscribe so feed items from an old channel are dropped. */
  private subscription = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryAttempt = 0;
  private unlisteners: Array<() => void> = [];
  private signingOut = false;
  private painted = false;
  /** The versions picked in the open chat: local to this window, newest by default. */
  private choice: VersionChoice = {};
  /** How many replies the awaited message had when its new one was asked for. */
  private repliesBefore = 0;

  /** The assistant's settings and the composer's model picks (settings.ts). */
  readonly assistant: Assistant;
  /** The servers' reachability and the outbox (see offline.ts). */
  readonly offline: Offline;
  /** Newer releases, and installing them (see updates.ts). */
  readonly updates: Updates;

  constructor(private readonly api: Api) {
    super(initialState());
    this.assistant = new Assistant(api);
    this.offline = new Offline(api);
    this.updates = new Updates(api);
  }

  /** Each call to the shell is a round trip through its main thread, busy at launch:
   *  the first screen waits for two (the listeners together, then the configuration),
   *  and the rest runs beside them. The `start:` marks time it for the footprint test. */
  async start(): Promise<void> {
    this.unlisteners.push(
      ...(await Promise.all([
        this.api.onAuthRequired(({ reason }) => this.authRequired(reason)),
        this.api.onAuthChanged(({ signedIn }) => void this.authChanged(signedIn)),
        this.api.onSignInUrl((url) => {
          if (this.state.signIn.waiting) this.set({ signIn: { ...this.state.signIn, url } });
        }),
      ])),
    );
    performance.mark("start:listening");
    void this.assistant.load();
    void this.updates.start();
    const offline = this.offline.start();
    try {
      const config = await this.api.getConfig();
      performance.mark("start:configured");
      if (!config.signedIn) this.set({ phase: "signed-out" });
      else await this.enter();
    } catch (error) {
      this.set({ phase: "signed-out" });
      this.fail(error);
    }
    await offline;
  }

  stopAll(): void {
    for (const unlisten of this.unlisteners) unlisten();
    this.unlisteners = [];
    this.offline.stopAll();
    this.updates.stop();
    this.clearRetry();
    this.subscription++;
  }

  /** Shows the chat screen at once, then loads who is signed in and their chats, and
   *  reopens the chat open last time. */
  private async enter(): Promise<void> {
    const listed = Promise.all([this.api.currentUser(), this.api.listSessions()]);
    const last = this.state.activeId ? null : lastChat();
    // The screen does not wait for the network: the composer takes a new chat, and the
    // last chat opens from its local copy (the shell sends it before any request).
    this.set({ phase: "signed-in", expired: false, sessionEnd: null });
    if (last) void this.openSession(last);
    const [user, sessions] = await listed;
    if (this.state.phase !== "signed-in") return;
    // A chat started meanwhile stays listed, whatever the list's order of arrival.
    const started = this.state.sessions.filter((s) => !sessions.some((l) => l.sessionId === s.sessionId));
    this.set({ user, sessions: [...sessions, ...started].sort(byActivity), listed: true });
    void this.offline.refresh();
    if (last && !sessions.some((s) => s.sessionId === last)) {
      forgetChat(last);
      if (this.state.activeId === last) {
        this.closeStream();
        this.set({ activeId: null, chat: null });
      }
    }
  }

  private async authChanged(signedIn: boolean): Promise<void> {
    // Signed out by something other than our own button (expiry, revocation): prompt
    // over the app instead of dropping it, so nothing typed is lost.
    if (!signedIn && this.state.phase === "signed-in" && !this.signingOut) {
      this.authRequired(this.state.sessionEnd ?? "ended");
    }
    if (signedIn && this.state.phase === "signed-out" && !this.state.signIn.waiting) {
      await this.enter().catch((error) => this.fail(error));
    }
  }

  /** The server refused the session: `ended` early (revoked, signed out elsewhere) or `expired`. */
  private authRequired(reason: SessionEnd = "ended"): void {
    if (this.state.phase !== "signed-in") {
      this.set({ sessionEnd: reason, notice: null, noticeDetail: null });
      return;
    }
    this.set({ expired: true, sessionEnd: reason, signIn: { waiting: false, error: null, url: null }, sending: false });
  }

  async signIn(): Promise<void> {
    if (this.state.signIn.waiting) return;
    this.set({ signIn: { waiting: true, error: null, url: null }, notice: null, noticeDetail: null });
    try {
      await this.api.signIn();
    } catch (error) {
      this.set({ signIn: { waiting: false, error: error as SignInError, url: null } });
      return;
    }
    this.set({ signIn: { waiting: false, error: null, url: null } });
    const wasExpired = this.state.expired;
    try {
      await this.enter();
    } catch (error) {
      this.fail(error);
      return;
    }
    // The old subscription died with the old token: replay the open chat afresh.
    if (wasExpired && this.state.activeId) await this.resubscribe(this.state.activeId);
  }

  async cancelSignIn(): Promise<void> {
    await this.api.cancelSignIn().catch((error) => this.fail(error));
  }

  async signOut(): Promise<void> {
    this.signingOut = true;
    try {
      await this.api.signOut();
      this.toSignedOut();
    } catch (error) {
      this.fail(error);
    } finally {
      this.signingOut = false;
    }
  }

  /** The account's devices, for the "Signed-in devices" dialog (which shows its own errors). */
  listDevices(): Promise<Device[]> {
    return this.api.listDevices();
  }

  /** Revoking this very device signs out here, as the Sign out button does. */
  async revokeDevice(id: string): Promise<RevokedDevice> {
    this.signingOut = true;
    try {
      const revoked = await this.api.revokeDevice(id);
      if (revoked.signedOut) this.toSignedOut();
      return revoked;
    } finally {
      this.signingOut = false;
    }
  }

  revokeOtherDevices(): Promise<number> {
    return this.api.revokeOtherDevices();
  }

  private toSignedOut(): void {
    this.closeStream();
    this.clearRetry();
    this.conversation = null;
    void this.offline.refresh();
    forgetChat();
    this.set({ ...initialState(), phase: "signed-out" });
  }

  // ---- chats ----

  async openSession(sessionId: string | null): Promise<void> {
    if (sessionId === this.state.activeId) return;
    this.closeStream();
    this.choice = {};
    rememberChat(sessionId);
    this.set({ activeId: sessionId, chat: null, awaitingReplyTo: null, notice: null, noticeDetail: null });
    if (sessionId) await this.openStream(sessionId);
  }

  newChat(): Promise<void> {
    return this.openSession(null);
  }

  async renameSession(sessionId: string, title: string): Promise<boolean> {
    const trimmed = title.trim();
    if (!trimmed) return false;
    try {
      const meta = await this.api.renameSession(sessionId, trimmed);
      this.set({ sessions: this.state.sessions.map((s) => (s.sessionId === sessionId ? meta : s)) });
      return true;
    } catch (error) {
      this.fail(error, sessionId);
      return false;
    }
  }

  async deleteSession(sessionId: string): Promise<void> {
    try {
      await this.api.deleteSession(sessionId);
    } catch (error) {
      if (!isCommandError(error) || error.kind !== "not_found") {
        this.fail(error);
        return;
      }
    }
    this.forget(sessionId);
  }

  /** Drops a chat that no longer exists from the list and, if open, from the view. */
  private forget(sessionId: string): void {
    forgetChat(sessionId);
    const drafts = { ...this.state.drafts };
    delete drafts[sessionId];
    this.set({ sessions: this.state.sessions.filter((s) => s.sessionId !== sessionId), drafts });
    if (this.state.activeId === sessionId) {
      this.closeStream();
      this.set({ activeId: null, chat: null, awaitingReplyTo: null });
    }
  }

  // ---- composing ----

  draft(): string {
    return this.state.drafts[this.state.activeId ?? NEW_CHAT] ?? "";
  }

  setDraft(text: string): void {
    this.set({ drafts: { ...this.state.drafts, [this.state.activeId ?? NEW_CHAT]: text } });
  }

  canSend(): boolean {
    const s = this.state;
    return s.phase === "signed-in" && !s.expired && !s.sending && !this.replyRunning() && this.draft().trim() !== "";
  }

  replyRunning(): boolean {
    return this.state.chat?.streaming != null || this.state.awaitingReplyTo !== null;
  }

  /** Sends the draft; it stays in the composer until the shell has accepted it. */
  async send(): Promise<void> {
    if (!this.canSend()) return;
    const content = this.draft();
    this.set({ sending: true, notice: null, noticeDetail: null });
    try {
      let sessionId = this.state.activeId;
      if (!sessionId) {
        const meta = await this.api.startSession(titleFrom(content));
        this.set({ sessions: [meta, ...this.state.sessions] });
        sessionId = meta.sessionId;
        this.moveDraft(NEW_CHAT, sessionId);
        this.closeStream();
        rememberChat(sessionId);
        this.set({ activeId: sessionId, chat: null, awaitingReplyTo: null });
        await this.openStream(sessionId);
      }
      const parentId = this.state.chat?.thread.at(-1)?.id ?? null;
      this.repliesBefore = 0;
      const { messageId } = await this.api.sendMessage(sessionId, content, parentId, this.assistant.picked(sessionId) ?? null);
      this.touch(sessionId);
      const drafts = { ...this.state.drafts, [sessionId]: "" };
      // A message waiting for the network has no reply coming yet: nothing to stop.
      const waiting = this.offline.isQueued(messageId);
      const awaiting =
        this.state.activeId === sessionId && !waiting && !this.hasReplyAfter(messageId) ? messageId : null;
      this.set({ drafts, sending: false, awaitingReplyTo: awaiting });
    } catch (error) {
      this.set({ sending: false });
      this.fail(error, this.state.activeId ?? undefined);
    }
  }

  private moveDraft(from: string, to: string): void {
    this.assistant.moved(from, to);
    const drafts = { ...this.state.drafts, [to]: this.state.drafts[from] ?? "" };
    delete drafts[from];
    this.set({ drafts });
  }

  private touch(sessionId: string): void {
    const now = new Date().toISOString();
    const sessions = this.state.sessions.map((s) => (s.sessionId === sessionId ? { ...s, lastActivityAt: now } : s));
    this.set({ sessions: sessions.sort(byActivity) });
  }

  /** Sets the chat's system prompt; the change comes back through the chat's feed. */
  setSystemPrompt(sessionId: string, prompt: string): Promise<null> {
    return this.api.setSystemPrompt(sessionId, prompt);
  }

  async stop(): Promise<void> {
    const sessionId = this.state.activeId;
    if (!sessionId || !this.replyRunning()) return;
    const messageId = this.state.chat?.streaming?.id;
    try {
      await this.api.stop(sessionId, messageId);
      if (!messageId) this.set({ awaitingReplyTo: null });
    } catch (error) {
      this.fail(error, sessionId);
    }
  }

  // ---- the open chat's stream ----

  private async openStream(sessionId: string): Promise<void> {
    const id = ++this.subscription;
    this.conversation = emptyConversation();
    // On a re-subscribe the old view stays up until the replay replaces it.
    if (!this.state.chat) this.set({ chat: this.view(true) });
    try {
      await this.api.subscribeSession(sessionId, (feed) => {
        if (id === this.subscription) this.onFeed(feed);
      });
    } catch (error) {
      if (id !== this.subscription) return;
      this.set({ chat: this.view(false) });
      this.fail(error, sessionId);
    }
  }

  private async resubscribe(sessionId: string): Promise<void> {
    this.closeStream();
    await this.openStream(sessionId);
  }

  private closeStream(): void {
    const sessionId = this.state.activeId;
    this.subscription++;
    this.conversation = null;
    if (this.state.banner?.source === "stream") this.set({ banner: null });
    if (sessionId) void this.api.unsubscribeSession(sessionId).catch(() => undefined);
  }

  private onFeed(feed: ChatFeed): void {
    const conversation = this.conversation;
    if (!conversation) return;
    switch (feed.kind) {
      case "updates": {
        for (const update of feed.updates) applyUpdate(conversation, update);
        let banner = this.state.banner;
        if (banner?.source === "stream") {
          banner = null;
          this.clearRetry();
        }
        this.set({ chat: this.view(true), banner, ...this.titleChange(), ...this.replyStarted() });
        break;
      }
      case "closed":
        // The chat was deleted: it cannot reopen at the next launch.
        if (this.state.activeId) forgetChat(this.state.activeId);
        this.set({ chat: this.view(false), awaitingReplyTo: null });
        break;
      case "error": {
        const retryAt = feed.retrying && feed.retryInSecs !== null ? Date.now() + feed.retryInSecs * 1000 : null;
        this.set({
          chat: this.view(feed.retrying),
          banner: { kind: "offline", source: "stream", message: feed.message, detail: feed.detail, retrying: true, retryAt },
        });
        // The shell reconnects on its own while `retrying`; once it gives up, we do.
        if (!feed.retrying) this.scheduleRetry();
        break;
      }
    }
  }

  /** A `session` event renamed the open chat (maybe on another device). */
  private titleChange(): Partial<State> {
    const title = this.conversation?.title;
    const id = this.state.activeId;
    if (!title || !this.state.sessions.some((s) => s.sessionId === id && s.title !== title)) return {};
    return { sessions: this.state.sessions.map((s) => (s.sessionId === id ? { ...s, title } : s)) };
  }

  private replyStarted(): Partial<State> {
    const waitingFor = this.state.awaitingReplyTo;
    return waitingFor && this.hasReplyAfter(waitingFor) ? { awaitingReplyTo: null } : {};
  }

  /** Whether `messageId` got a reply since the one awaited was asked for. */
  private hasReplyAfter(messageId: string): boolean {
    const messages = this.conversation?.messages ?? [];
    return messages.filter((m) => m.parentId === messageId && m.role !== "user").length > this.repliesBefore;
  }

  private view(live: boolean): ChatView {
    const c = this.conversation ?? emptyConversation();
    const running = streaming(c);
    const messages = c.messages.map((m) => ({ ...m }));
    const versions: Record<string, string[]> = {};
    for (const m of messages) if (m.role !== "system") (versions[turnKey(m)] ??= []).push(m.id);
    return {
      title: c.title,
      messages,
      thread: visibleThread(messages, this.choice),
      versions,
      streaming: running ? { ...running } : null,
      live,
    };
  }

  // ---- versions: regenerate, edit, switch ----

  /** Shows version `messageId` of its turn (and, below it, that version's newest thread). */
  chooseVersion(messageId: string): void {
    const message = this.conversation?.messages.find((m) => m.id === messageId);
    if (!message || !this.state.chat) return;
    this.choice = choose(this.choice, message);
    this.set({ chat: this.view(this.state.chat.live) });
  }

  canRework(): boolean {
    const s = this.state;
    return s.phase === "signed-in" && !s.expired && !s.sending && !this.replyRunning() && s.activeId !== null;
  }

  /** Another version of the reply `messageId` (or, for a failed one, Retry); shown
   *  once it starts, the earlier ones a click away. */
  async regenerate(messageId: string): Promise<void> {
    const message = this.conversation?.messages.find((m) => m.id === messageId);
    const question = message?.role === "user" ? message.id : message?.parentId;
    if (!message || !question || !this.canRework()) return;
    await this.rework(question, { parentId: question, role: "assistant" }, (id) => this.api.regenerate(id, messageId, this.assistant.picked(id) ?? null));
  }

  /** Sends `content` as a new version of the user message `messageId`. */
  async edit(messageId: string, content: string): Promise<boolean> {
    const message = this.conversation?.messages.find((m) => m.id === messageId);
    if (!message || message.role !== "user" || !content.trim() || !this.canRework()) return false;
    return this.rework(null, message, (id) => this.api.editMessage(id, messageId, content, this.assistant.picked(id) ?? null));
  }

  /** Asks the shell for a new version of `turn`, then waits for the reply to the
   *  message it names (`question`, or the new message itself). */
  private async rework(
    question: string | null,
    turn: Pick<Message, "parentId" | "role">,
    ask: (sessionId: string) => Promise<{ messageId: string }>,
  ): Promise<boolean> {
    const sessionId = this.state.activeId!;
    this.choice = showNewest(this.choice, turn);
    this.repliesBefore = question ? (this.conversation?.messages ?? []).filter((m) => m.parentId === question && m.role !== "user").length : 0;
    this.set({ sending: true, notice: null, chat: this.state.chat && this.view(this.state.chat.live) });
    try {
      const { messageId } = await ask(sessionId);
      this.touch(sessionId);
      const awaiting = this.state.activeId === sessionId && !this.hasReplyAfter(messageId) ? messageId : null;
      this.set({ sending: false, awaitingReplyTo: awaiting });
      return true;
    } catch (error) {
      this.set({ sending: false });
      this.fail(error, sessionId);
      return false;
    }
  }

  // ---- errors and retries ----

  /** Routes a failed command: re-auth prompt, connection banner, or a notice. */
  private fail(raw: unknown, sessionId?: string): void {
    const error: CommandError = isCommandError(raw)
      ? raw
      : { kind: "invalid", message: "Something went wrong in the app.", detail: String(raw) };
    const detail = error.detail ?? null;
    switch (error.kind) {
      case "auth_required":
        // The shell's `auth:required` says whether it ended or expired; a refusal is
        // an ended session until it does.
        this.authRequired(this.state.sessionEnd ?? "ended");
        break;
      case "network":
      case "server":
        this.set({
          banner: {
            kind: error.kind === "network" ? "offline" : "server",
            source: "command",
            message: error.message,
            detail,
            retrying: true,
            retryAt: null,
          },
        });
        this.scheduleRetry();
        break;
      case "not_found":
        if (sessionId) {
          this.forget(sessionId);
          this.set({ notice: "That chat no longer exists: it was deleted, here or on another device.", noticeDetail: detail });
        } else this.set({ notice: error.message, noticeDetail: detail });
        break;
      case "invalid":
      case "cancelled":
      case "timeout":
        this.set({ notice: error.message, noticeDetail: detail });
        break;
    }
  }

  /** The first screen is on display: tells the shell, once per start. */
  async firstPainted(screen: Screen): Promise<void> {
    if (this.painted) return;
    this.painted = true;
    performance.mark("start:painted");
    await this.api.uiReady(screen).catch(() => undefined);
  }

  async openLink(url: string): Promise<void> {
    await this.api.openLink(url).catch((error) =>
      this.set({ notice: "Couldn't open the link in your browser.", noticeDetail: String(error) }),
    );
  }

  dismissNotice(): void {
    this.set({ notice: null, noticeDetail: null });
  }

  /** Tells the person something that went well or wrong outside a chat (export, import). */
  notify(text: string): void {
    this.set({ notice: text });
  }

  /** A chat made here by other means (an import): listed first, then opened. */
  async adopt(meta: ChatInfo): Promise<void> {
    this.set({ sessions: [meta, ...this.state.sessions.filter((s) => s.sessionId !== meta.sessionId)] });
    await this.openSession(meta.sessionId);
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    const delay = RETRY_DELAYS_MS[Math.min(this.retryAttempt, RETRY_DELAYS_MS.length - 1)];
    this.retryAttempt++;
    const banner = this.state.banner;
    if (banner) this.set({ banner: { ...banner, retryAt: Date.now() + delay } });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.retry();
    }, delay);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.retryAttempt = 0;
  }

  /** Checks the connection again now; clears the banner once the server answers. */
  async retry(): Promise<void> {
    const banner = this.state.banner;
    if (!banner) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (banner.source === "stream") {
      if (this.state.activeId) await this.resubscribe(this.state.activeId);
      return;
    }
    try {
      if (this.state.phase === "signed-in") {
        const sessions = await this.api.listSessions();
        this.set({ sessions: [...sessions].sort(byActivity), listed: true });
      } else {
        const config = await this.api.getConfig();
        if (config.signedIn) await this.enter();
      }
    } catch (error) {
      this.fail(error);
      return;
    }
    this.clearRetry();
    this.set({ banner: null });
    if (this.state.activeId && this.state.chat && !this.state.chat.live) await this.resubscribe(this.state.activeId);
  }
}
