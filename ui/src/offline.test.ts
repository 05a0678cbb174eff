import { afterEach, describe, expect, it } from "vitest";
import { FakeShell, type Scenario } from "../test/fake-shell";
import { api } from "./ipc";
import { Store } from "./store";

let store: Store;

async function boot(scenario: Scenario) {
  const shell = new FakeShell({ replyMode: "manual", signedIn: true, ...scenario }).install();
  store = new Store(api);
  await store.start();
  await settle();
  return shell;
}

async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

afterEach(() => store?.stopAll());

describe("offline", () => {
  it("launches signed in on the local copy, queues what is typed and lets more be typed", async () => {
    const shell = await boot({ serversDown: true, sessions: [{ title: "Notes", messages: [["user", "first"]] }] });
    expect(store.state.phase).toBe("signed-in");
    expect(store.offline.state.offline).toBe(true);
    const id = store.state.sessions[0].sessionId;
    await store.openSession(id);
    await settle();
    expect(store.state.chat?.messages.map((m) => m.text)).toEqual(["first"]);

    store.setDraft("second");
    await store.send();
    await settle();
    expect(store.state.awaitingReplyTo).toBeNull();
    expect(store.canSend()).toBe(false);
    store.setDraft("third");
    expect(store.canSend()).toBe(true);
    const pending = store.offline.pendingIn(id, store.state.chat?.messages ?? []);
    expect(pending.map((m) => m.content)).toEqual(["second"]);
    expect(store.offline.pendingIn("another-chat", [])).toEqual([]);

    shell.setServersReachable(true);
    await settle();
    expect(store.offline.state).toEqual({ offline: false, queued: [] });
    expect(store.state.chat?.messages.map((m) => m.text)).toEqual(["first", "second"]);
    expect(store.offline.pendingIn(id, store.state.chat?.messages ?? [])).toEqual([]);
  });

  it("a message sent while online is never shown pending", async () => {
    const shell = await boot({ sessions: [{ title: "Notes" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    store.setDraft("hello");
    await store.send();
    expect(store.offline.state.queued).toEqual([]);
    expect(store.state.awaitingReplyTo).not.toBeNull();
    expect(shell.callsOf("send_message")).toHaveLength(1);
  });
});
