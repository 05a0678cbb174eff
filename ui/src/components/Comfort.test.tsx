// Keyboard and comfort (shortcuts, their help, the last chat reopening) and errors in
// words (the banner's countdown and Details, the sign-in prompt's "ended"/"expired").

import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell, type Scenario } from "../../test/fake-shell";
import { api } from "../ipc";
import { lastChat } from "../lastChat";
import { Store } from "../store";
import { App } from "./App";

let store: Store;

async function renderApp(scenario: Scenario) {
  const shell = new FakeShell({ replyMode: "manual", ...scenario }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  await effects();
  return shell;
}

/** Lets Preact run the effects of the last render (they register the shortcuts). */
function effects() {
  return new Promise((r) => setTimeout(r, 30));
}

function press(init: KeyboardEventInit, target: Element | Document = document.body) {
  fireEvent.keyDown(target, init);
}

afterEach(() => {
  store?.stopAll();
  cleanup();
});

describe("shortcuts", () => {
  it("? opens the help overlay listing each shortcut with Ctrl off macOS; Ctrl+/ closes it", async () => {
    await renderApp({ signedIn: true, sessions: [{ title: "One" }] });
    press({ key: "?", shiftKey: true });
    const help = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    const rows = within(help).getAllByRole("row").map((r) => r.textContent);
    expect(rows).toContain("New chatCtrlShiftO");
    expect(rows).toContain("Write a messageShiftEsc");
    expect(rows).toContain("Previous chatAltUp");
    expect(rows).toContain("Keyboard shortcutsCtrl/ or ?");
    // The features that plugged in are listed too.
    expect(rows.some((r) => r?.startsWith("Settings"))).toBe(true);
    expect(rows.some((r) => r?.startsWith("Search chats"))).toBe(true);
    expect(rows.some((r) => r?.startsWith("Regenerate"))).toBe(true);
    press({ key: "/", ctrlKey: true });
    await waitFor(() => expect(help.hasAttribute("open")).toBe(false));
  });

  it("a bare ? typed in the composer stays a question mark", async () => {
    await renderApp({ signedIn: true });
    const box = screen.getByRole("textbox", { name: "Message" });
    press({ key: "?", shiftKey: true }, box);
    expect(screen.queryByRole("dialog", { name: "Keyboard shortcuts" })).toBeNull();
  });

  it("moves to the next and previous chat, starts a new one and focuses the composer", async () => {
    await renderApp({ signedIn: true, sessions: [{ title: "Newest" }, { title: "Older", minutesAgo: 5 }] });
    const [newest, older] = store.state.sessions.map((s) => s.sessionId);
    press({ key: "ArrowDown", altKey: true });
    await waitFor(() => expect(store.state.activeId).toBe(newest));
    press({ key: "ArrowDown", altKey: true }, screen.getByRole("textbox", { name: "Message" }));
    await waitFor(() => expect(store.state.activeId).toBe(older));
    press({ key: "ArrowUp", altKey: true });
    await waitFor(() => expect(store.state.activeId).toBe(newest));
    press({ key: "o", ctrlKey: true, shiftKey: true });
    await waitFor(() => expect(store.state.activeId).toBeNull());
    screen.getByRole("button", { name: "Sign out" }).focus();
    press({ key: "Escape", shiftKey: true });
    expect(document.activeElement).toBe(screen.getByRole("textbox", { name: "Message" }));
  });

  it("Esc stops a running reply, and does nothing otherwise", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    const escape = new KeyboardEvent("keydown", { key: "Escape", bubbles: true, cancelable: true });
    document.body.dispatchEvent(escape);
    expect(escape.defaultPrevented).toBe(false);
    store.setDraft("go");
    await store.send();
    shell.streamNext(1);
    await waitFor(() => expect(store.replyRunning()).toBe(true));
    press({ key: "Escape" });
    await waitFor(() => expect(shell.callsOf("stop").length).toBe(1));
  });

  it("a feature plugs its action into the registry, or marks its element", async () => {
    const { shortcuts } = await import("../shortcuts");
    await renderApp({ signedIn: true });
    let regenerated = 0;
    const remove = shortcuts.register("regenerate", () => void regenerated++);
    press({ key: "R", ctrlKey: true, shiftKey: true });
    expect(regenerated).toBe(1);
    remove();
    // The sidebar's search box marks itself.
    press({ key: "k", ctrlKey: true });
    expect(document.activeElement).toBe(screen.getByRole("searchbox", { name: "Search chats" }));
  });
});

describe("the last chat", () => {
  it("reopens at launch, and is forgotten at sign-out", async () => {
    const shell = new FakeShell({ signedIn: true, replyMode: "manual", sessions: [{ title: "A" }, { title: "B", minutesAgo: 3 }] });
    const b = shell.sessionByTitle("B")!.meta.sessionId;
    localStorage.setItem("superset.lastChat", b);
    shell.install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    expect(store.state.activeId).toBe(b);
    expect(shell.callsOf("subscribe_session").map((c) => c.args.sessionId)).toEqual([b]);
    const a = shell.sessionByTitle("A")!.meta.sessionId;
    await store.openSession(a);
    expect(lastChat()).toBe(a);
    await store.signOut();
    expect(lastChat()).toBeNull();
  });

  it("shows before the account and the chat list have loaded", async () => {
    const shell = new FakeShell({ signedIn: true, sessions: [{ title: "Kept", messages: [["user", "Still here"]] }] });
    localStorage.setItem("superset.lastChat", shell.sessionByTitle("Kept")!.meta.sessionId);
    shell.install();
    const release = [shell.hold("current_user"), shell.hold("list_sessions")];
    store = new Store(api);
    render(<App store={store} />);
    const started = store.start();
    await screen.findByText("Still here");
    expect(store.state.sessions).toEqual([]);
    for (const r of release) r();
    await started;
    expect(store.state.sessions.map((s) => s.title)).toEqual(["Kept"]);
  });

  it("without a last chat, the chat screen shows at once and says the list is loading", async () => {
    const shell = new FakeShell({ signedIn: true, sessions: [{ title: "Listed later" }] });
    shell.install();
    const release = [shell.hold("current_user"), shell.hold("list_sessions")];
    store = new Store(api);
    render(<App store={store} />);
    const started = store.start();
    await screen.findByRole("textbox", { name: "Message" });
    expect(screen.getByText("Loading your chats…")).toBeTruthy();
    expect(screen.queryByText("No chats yet.")).toBeNull();
    await waitFor(() => expect(shell.callsOf("ui_ready")).toEqual([{ cmd: "ui_ready", args: { screen: "chat" } }]));
    for (const r of release) r();
    await started;
    await screen.findByText("Listed later");
    expect(screen.queryByText("Loading your chats…")).toBeNull();
  });

  it("is forgotten when that chat is gone", async () => {
    localStorage.setItem("superset.lastChat", "deleted-elsewhere");
    await renderApp({ signedIn: true, sessions: [{ title: "A" }] });
    expect(store.state.activeId).toBeNull();
    expect(lastChat()).toBeNull();
  });
});

describe("errors in words", () => {
  it("the banner counts down to the next try and keeps the detail behind Details", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    await store.openSession(store.state.sessions[0].sessionId);
    await waitFor(() => expect(store.state.chat?.live).toBe(true));
    await new Promise((r) => setTimeout(r, 10));
    shell.loseConnection(store.state.activeId!, 3);
    const banner = await screen.findByTestId("banner");
    expect(banner.textContent).toContain("Can't reach the server. Retrying in 3 s.");
    const details = banner.querySelector("details")!;
    expect(details.open).toBe(false);
    expect(within(banner).getByText("Details").tagName).toBe("SUMMARY");
    expect(details.textContent).toContain("Connection refused");
    await waitFor(() => expect(banner.textContent).toContain("Retrying in 2 s."), { timeout: 2500 });
  });

  it("a notice shows the plain words with the detail apart", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    shell.failNext("rename_session", { kind: "invalid", message: "The server refused the request: title is too long.", detail: "PATCH /v1/sessions/x: 400" });
    await store.renameSession(store.state.sessions[0].sessionId, "x".repeat(10));
    const notice = await screen.findByRole("status");
    expect(notice.textContent).toContain("The server refused the request: title is too long.");
    expect(notice.querySelector("details code")?.textContent).toBe("PATCH /v1/sessions/x: 400");
  });

  it("after a refusal at launch the sign-in screen says the session ended", async () => {
    const shell = new FakeShell({ signedIn: true });
    shell.install();
    shell.failNext("current_user", { kind: "auth_required", message: "Your session ended.", detail: "401" });
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    const alert = await screen.findByText(/^Your session ended: this device was signed out from another device/);
    expect(alert.textContent).toBe(
      "Your session ended: this device was signed out from another device or the session was revoked. Sign in again.",
    );
    expect(screen.queryByText("Please sign in.")).toBeNull();
  });

  it("says expired, not ended, when the session ran out on this machine's clock", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    shell.expire("expired");
    const dialog = await screen.findByRole("dialog", { name: "Your session expired" });
    expect(dialog.textContent).toContain("Your session expired after 30 days without use. Sign in again.");
  });
});
