import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeShell, type Scenario } from "../test/fake-shell";
import { api } from "./ipc";
import { turnKey } from "./branches";
import { Store, titleFrom } from "./store";

let store: Store;

async function boot(scenario: Scenario = { signedIn: true }) {
  const shell = new FakeShell({ replyMode: "manual", ...scenario }).install();
  store = new Store(api);
  await store.start();
  return shell;
}

/** Lets queued IPC promises, channel deliveries and zero-delay timers run. */
async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

afterEach(() => store?.stopAll());

describe("Store", () => {
  it("starts signed out without a token, and signs in through the browser round trip", async () => {
    const shell = await boot({ signedIn: false });
    expect(store.state.phase).toBe("signed-out");
    const signingIn = store.signIn();
    await settle();
    expect(store.state.signIn.waiting).toBe(true);
    expect(store.state.signIn.url).toContain("/oauth/authorize?");
    expect(shell.signInWaiting()).toBe(true);
    shell.completeSignIn();
    await signingIn;
    expect(store.state.phase).toBe("signed-in");
    expect(store.state.user?.email).toBe("ada@example.com");
    expect(store.state.signIn).toEqual({ waiting: false, error: null, url: null });
  });

  it("reports a cancelled or timed-out sign-in and stays signed out", async () => {
    const shell = await boot({ signedIn: false });
    let signingIn = store.signIn();
    await settle();
    await store.cancelSignIn();
    await signingIn;
    expect(store.state.signIn.error?.kind).toBe("cancelled");
    signingIn = store.signIn();
    await settle();
    shell.failSignIn("timeout");
    await signingIn;
    expect(store.state).toMatchObject({ phase: "signed-out", signIn: { waiting: false, error: { kind: "timeout" } } });
  });

  it("lists chats newest activity first", async () => {
    await boot({ signedIn: true, sessions: [{ title: "old", minutesAgo: 90 }, { title: "new", minutesAgo: 1 }, { title: "mid", minutesAgo: 30 }] });
    expect(store.state.sessions.map((s) => s.title)).toEqual(["new", "mid", "old"]);
  });

  it("sends from a new chat: starts a session titled by the message, then streams the reply", async () => {
    const shell = await boot();
    store.setDraft("Plan a trip to Lisbon\nwith kids");
    await store.send();
    await settle();
    const [meta] = store.state.sessions;
    expect(meta.title).toBe("Plan a trip to Lisbon");
    expect(store.state.activeId).toBe(meta.sessionId);
    expect(shell.callsOf("send_message")[0].args).toEqual({ sessionId: meta.sessionId, content: "Plan a trip to Lisbon\nwith kids", parentId: null, model: null });
    expect(store.draft()).toBe("");
    expect(store.replyRunning()).toBe(true);
    expect(store.canSend()).toBe(false);
    shell.streamNext(2);
    await settle();
    const reply = store.state.chat!.messages[1];
    expect(reply).toMatchObject({ role: "assistant", status: "streaming", text: "You said: **Plan a trip to Lisbon\nwith kids**" });
    shell.streamNext();
    await settle();
    expect(store.state.chat!.messages[1].status).toBe("complete");
    expect(store.replyRunning()).toBe(false);
  });

  it("stops the running reply by its message id and keeps the text so far", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "t" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    store.setDraft("hi");
    await store.send();
    shell.streamNext(1);
    await settle();
    const streaming = store.state.chat!.streaming!;
    await store.stop();
    await settle();
    expect(shell.callsOf("stop")[0].args).toEqual({ sessionId: store.state.activeId, messageId: streaming.id });
    expect(store.state.chat!.messages[1]).toMatchObject({ status: "stopped", text: "You said: " });
    expect(store.replyRunning()).toBe(false);
  });

  it("stops before the first word arrives without a message id", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "t" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    store.setDraft("hi");
    await store.send();
    await settle();
    expect(store.replyRunning()).toBe(true);
    await store.stop();
    await settle();
    expect(shell.callsOf("stop")[0].args).toEqual({ sessionId: store.state.activeId });
    expect(store.replyRunning()).toBe(false);
  });

  it("on auth:required prompts to sign in again and keeps the draft, then resubscribes", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "t", messages: [["user", "earlier"]] }] });
    const id = store.state.sessions[0].sessionId;
    await store.openSession(id);
    await settle();
    store.setDraft("half-written thought");
    shell.expire();
    await settle();
    expect(store.state).toMatchObject({ phase: "signed-in", expired: true });
    expect(store.draft()).toBe("half-written thought");
    expect(store.canSend()).toBe(false);
    const signingIn = store.signIn();
    await settle();
    shell.completeSignIn();
    await signingIn;
    await settle();
    expect(store.state.expired).toBe(false);
    expect(store.draft()).toBe("half-written thought");
    expect(shell.callsOf("subscribe_session").length).toBe(2);
    expect(store.state.chat!.messages.map((m) => m.text)).toEqual(["earlier"]);
  });

  it("a send refused as auth_required keeps the draft", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "t" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    shell.failNext("send_message", { kind: "auth_required", message: "Your session ended.", detail: "401" });
    store.setDraft("keep me");
    await store.send();
    expect(store.state.expired).toBe(true);
    expect(store.draft()).toBe("keep me");
  });

  describe("connection problems", () => {
    beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
    afterEach(() => vi.useRealTimers());

    it("shows the offline banner, keeps the draft, retries with backoff until the server answers", async () => {
      const shellPromise = boot({ signedIn: true, sessions: [{ title: "t" }] });
      await vi.runAllTimersAsync();
      const shell = await shellPromise;
      shell.offline = true;
      store.setDraft("unsent");
      await store.send();
      expect(store.state.banner).toMatchObject({ kind: "offline", source: "command", retrying: true });
      expect(store.draft()).toBe("unsent");
      const before = shell.callsOf("list_sessions").length;
      await vi.advanceTimersByTimeAsync(1000);
      expect(shell.callsOf("list_sessions").length).toBe(before + 1);
      expect(store.state.banner?.kind).toBe("offline");
      await vi.advanceTimersByTimeAsync(1999);
      expect(shell.callsOf("list_sessions").length).toBe(before + 1);
      shell.offline = false;
      await vi.advanceTimersByTimeAsync(1);
      expect(store.state.banner).toBeNull();
      expect(store.draft()).toBe("unsent");
    });

    it("tells a server error apart and clears it on Retry now", async () => {
      const shellPromise = boot({ signedIn: true });
      await vi.runAllTimersAsync();
      const shell = await shellPromise;
      shell.failWithStatus("start_session", 500);
      store.setDraft("x");
      await store.send();
      expect(store.state.banner).toMatchObject({
        kind: "server",
        message: "The server ran into a problem (error 500). Try again later.",
        detail: "GET /v1/sessions: the server answered 500",
      });
      await store.retry();
      expect(store.state.banner).toBeNull();
      // A 503 is "unavailable" to the real shell: the offline banner, not a server fault.
      shell.failWithStatus("start_session", 503);
      await store.send();
      expect(store.state.banner).toMatchObject({ kind: "offline", detail: "GET /v1/sessions: the server answered 503" });
    });

    it("shows a reconnecting banner from the feed and clears it when events flow again", async () => {
      const shellPromise = boot({ signedIn: true, sessions: [{ title: "t", messages: [["user", "a"]] }] });
      await vi.runAllTimersAsync();
      const shell = await shellPromise;
      const id = store.state.sessions[0].sessionId;
      await store.openSession(id);
      await vi.runAllTimersAsync();
      const now = Date.now();
      shell.loseConnection(id, 5);
      expect(store.state.banner).toMatchObject({
        source: "stream",
        retrying: true,
        message: "Can't reach the server.",
        detail: expect.stringContaining("Connection refused"),
      });
      expect(store.state.banner!.retryAt! - now).toBeGreaterThanOrEqual(5000);
      shell.feed(id, { kind: "updates", updates: [] });
      expect(store.state.banner).toBeNull();
    });

    it("resubscribes itself once the shell gives up on a stream", async () => {
      const shellPromise = boot({ signedIn: true, sessions: [{ title: "t", messages: [["user", "a"]] }] });
      await vi.runAllTimersAsync();
      const shell = await shellPromise;
      const id = store.state.sessions[0].sessionId;
      await store.openSession(id);
      await vi.runAllTimersAsync();
      shell.feed(id, { kind: "error", message: "Not found.", detail: "GET /v1/stream/x: 404", retrying: false, retryInSecs: null });
      expect(store.state.chat?.live).toBe(false);
      await vi.advanceTimersByTimeAsync(1000);
      await vi.runAllTimersAsync();
      expect(shell.callsOf("subscribe_session").length).toBe(2);
      expect(store.state.banner).toBeNull();
      expect(store.state.chat).toMatchObject({ live: true, messages: [{ text: "a" }] });
    });
  });

  describe("history", () => {
    /** A chat of `turns` questions, each answered. */
    function longChat(turns: number): Scenario["sessions"] {
      const messages: Array<["user" | "assistant", string]> = [];
      for (let i = 0; i < turns; i++) messages.push(["user", `Question ${i}`], ["assistant", `Answer ${i}\n\n\`\`\`ts\nconst n = ${i};\n\`\`\``]);
      return [{ title: "Long", messages }];
    }

    /** Every chat view the store showed from now on, and whether a reply looked running then. */
    function watch(): Array<{ shown: number; running: boolean }> {
      const seen: Array<{ shown: number; running: boolean }> = [];
      store.subscribe(() => seen.push({ shown: store.state.chat?.thread.length ?? -1, running: store.replyRunning() }));
      return seen;
    }

    it("opens a 500-turn chat from its one history batch: whole at once, never running", async () => {
      await boot({ signedIn: true, sessions: longChat(500) });
      const seen = watch();
      await store.openSession(store.state.sessions[0].sessionId);
      await settle();
      // Nothing (-1), the empty chat while it loads (0), then all of it: never a part.
      expect(seen.map((s) => s.shown).filter((n) => n > 0 && n < 1000)).toEqual([]);
      expect(seen.at(-1)!.shown).toBe(1000);
      expect(seen.some((s) => s.running)).toBe(false);
      expect(store.state.chat!.thread.at(-1)).toMatchObject({ role: "assistant", status: "complete", text: expect.stringContaining("Answer 499") });
    });

    it("a re-subscribe keeps the chat on screen until the new history batch replaces it", async () => {
      const shell = await boot({ signedIn: true, sessions: longChat(50) });
      const id = store.state.sessions[0].sessionId;
      await store.openSession(id);
      await settle();
      const seen = watch();
      shell.feed(id, { kind: "error", message: "Not found.", detail: "GET /v1/stream/x: 404", retrying: false, retryInSecs: null });
      await new Promise((r) => setTimeout(r, 1100));
      await settle();
      expect(shell.callsOf("subscribe_session").length).toBe(2);
      expect(new Set(seen.map((s) => s.shown))).toEqual(new Set([100]));
      expect(store.state.chat?.live).toBe(true);
    });

    it("a reset in a batch drops what was shown before the messages after it", async () => {
      const shell = await boot({ signedIn: true, sessions: longChat(3) });
      const id = store.state.sessions[0].sessionId;
      await store.openSession(id);
      await settle();
      const fresh = { ...store.state.chat!.messages[0], id: "fresh", text: "Started over", parentId: null };
      shell.feed(id, { kind: "updates", updates: [{ kind: "reset" }, { kind: "message", message: fresh }] });
      expect(store.state.chat!.thread.map((m) => m.text)).toEqual(["Started over"]);
      shell.feed(id, { kind: "updates", updates: [{ kind: "delta", id: "fresh", text: "!" }] });
      expect(store.state.chat!.thread.map((m) => m.text)).toEqual(["Started over!"]);
    });
  });

  it("ignores feed items from a closed subscription", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "a", messages: [["user", "one"], ["assistant", "two"]] }, { title: "b" }] });
    const [first, second] = store.state.sessions;
    await store.openSession(first.sessionId);
    await settle();
    expect(store.state.chat!.messages.map((m) => m.text)).toEqual(["one", "two"]);
    await store.openSession(second.sessionId);
    await settle();
    expect(shell.subscribed(first.sessionId)).toBe(false);
    expect(store.state.chat!.messages).toEqual([]);
  });

  it("renames, follows a rename from another device, and deletes", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "first" }, { title: "second", minutesAgo: 5 }] });
    const id = store.state.sessions[0].sessionId;
    await store.openSession(id);
    await settle();
    expect(await store.renameSession(id, "  Renamed  ")).toBe(true);
    await settle();
    expect(shell.callsOf("rename_session")[0].args).toEqual({ sessionId: id, title: "Renamed" });
    expect(store.state.sessions[0].title).toBe("Renamed");
    expect(store.state.chat!.title).toBe("Renamed");
    shell.feed(id, { kind: "updates", updates: [{ kind: "title", title: "From phone" }] });
    expect(store.state.sessions[0].title).toBe("From phone");
    expect(await store.renameSession(id, "   ")).toBe(false);
    await store.deleteSession(id);
    expect(store.state.sessions.map((s) => s.title)).toEqual(["second"]);
    expect(store.state.activeId).toBeNull();
    expect(shell.sessions.has(id)).toBe(false);
  });

  it("drops a chat that vanished elsewhere with a notice", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "gone" }] });
    const id = store.state.sessions[0].sessionId;
    shell.sessions.delete(id);
    await store.openSession(id);
    expect(store.state.sessions).toEqual([]);
    expect(store.state.notice).toBe("That chat no longer exists: it was deleted, here or on another device.");
  });

  it("signs out and forgets everything", async () => {
    const shell = await boot({ signedIn: true, sessions: [{ title: "t" }] });
    store.setDraft("x");
    await store.signOut();
    await settle();
    expect(store.state.phase).toBe("signed-out");
    expect(store.state.expired).toBe(false);
    expect(store.state.sessions).toEqual([]);
    expect(shell.signedIn).toBe(false);
  });

  it("titles a chat by the first line of its first message", () => {
    expect(titleFrom("  Hello there \nsecond")).toBe("Hello there");
    expect(titleFrom("x".repeat(100))).toHaveLength(60);
    expect(titleFrom("x".repeat(100)).endsWith("…")).toBe(true);
  });

  describe("versions", () => {
    async function chatWithOneTurn() {
      const shell = await boot({ signedIn: true, sessions: [{ title: "t", messages: [["user", "Q"], ["assistant", "A"]] }] });
      await store.openSession(store.state.sessions[0].sessionId);
      await settle();
      return shell;
    }
    const texts = () => store.state.chat!.thread.map((m) => m.text);

    it("sends after the last message on screen", async () => {
      const shell = await chatWithOneTurn();
      const [, answer] = store.state.chat!.thread;
      store.setDraft("more");
      await store.send();
      expect(shell.callsOf("send_message")[0].args).toMatchObject({ parentId: answer.id, content: "more" });
    });

    it("regenerates the last reply into a second version, shown at once, and switches back", async () => {
      const shell = await chatWithOneTurn();
      const [question, first] = store.state.chat!.thread;
      shell.nextReply = ["A, again"];
      await store.regenerate(first.id);
      expect(shell.callsOf("regenerate")[0].args).toEqual({ sessionId: store.state.activeId, messageId: first.id, model: null });
      expect(store.replyRunning()).toBe(true);
      shell.streamNext();
      await settle();
      expect(store.replyRunning()).toBe(false);
      expect(texts()).toEqual(["Q", "A, again"]);
      const second = store.state.chat!.thread[1];
      expect(second.parentId).toBe(question.id);
      expect(store.state.chat!.versions[turnKey(second)]).toEqual([first.id, second.id]);
      store.chooseVersion(first.id);
      expect(texts()).toEqual(["Q", "A"]);
      // A new message goes under the version on screen.
      store.setDraft("follow-up");
      await store.send();
      expect(shell.callsOf("send_message")[0].args).toMatchObject({ parentId: first.id });
    });

    it("edits a message into a new version with its own reply, keeping the old thread", async () => {
      const shell = await chatWithOneTurn();
      const [question] = store.state.chat!.thread;
      shell.nextReply = ["A2"];
      expect(await store.edit(question.id, "Q, edited")).toBe(true);
      expect(shell.callsOf("edit_message")[0].args).toMatchObject({ messageId: question.id, content: "Q, edited" });
      shell.streamNext();
      await settle();
      expect(texts()).toEqual(["Q, edited", "A2"]);
      store.chooseVersion(question.id);
      expect(texts()).toEqual(["Q", "A"]);
      expect(await store.edit(question.id, "   ")).toBe(false);
    });

    it("retries a failed reply as a new version", async () => {
      const shell = await boot({ signedIn: true, sessions: [{ title: "t" }] });
      await store.openSession(store.state.sessions[0].sessionId);
      shell.nextReply = ["partial"];
      shell.nextReplyError = "The provider is rate limiting requests: wait and try again";
      store.setDraft("hi");
      await store.send();
      shell.streamNext();
      await settle();
      const failed = store.state.chat!.thread[1];
      expect(failed).toMatchObject({ status: "failed", error: expect.stringContaining("rate limiting") });
      shell.nextReply = ["fine"];
      await store.regenerate(failed.id);
      shell.streamNext();
      await settle();
      expect(texts()).toEqual(["hi", "fine"]);
    });
  });
});
