import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell, type Scenario } from "../../test/fake-shell";
import { api } from "../ipc";
import { Store } from "../store";
import { App } from "./App";

let store: Store;

async function renderApp(scenario: Scenario) {
  const shell = new FakeShell({ replyMode: "manual", ...scenario }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  return shell;
}

afterEach(() => {
  store?.stopAll();
  cleanup();
  delete document.documentElement.dataset.theme;
});

describe("App", () => {
  it("shows the sign-in screen, its progress and Cancel while the browser round trip runs", async () => {
    const shell = await renderApp({ signedIn: false });
    fireEvent.click(screen.getByRole("button", { name: "Sign in with your browser" }));
    await screen.findByRole("status");
    expect(screen.getByRole("progressbar", { name: "Waiting for sign-in to finish" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Sign in with your browser" })).toBeNull();
    shell.completeSignIn();
    await screen.findByText("Ada Lovelace");
    expect(screen.getByRole("button", { name: "Sign out" })).toBeTruthy();
  });

  it("tells the shell once which screen it painted first", async () => {
    const shell = await renderApp({ signedIn: false });
    await screen.findByRole("button", { name: "Sign in with your browser" });
    await waitFor(() => expect(shell.callsOf("ui_ready")).toEqual([{ cmd: "ui_ready", args: { screen: "sign-in" } }]));
    fireEvent.click(screen.getByRole("button", { name: "Sign in with your browser" }));
    shell.completeSignIn();
    await screen.findByText("Ada Lovelace");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(shell.callsOf("ui_ready")).toHaveLength(1);
  });

  it("Enter sends, Shift+Enter does not", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    fireEvent.click(screen.getByRole("button", { name: /^Chat/ }));
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;
    fireEvent.input(box, { target: { value: "line one" } });
    fireEvent.keyDown(box, { key: "Enter", shiftKey: true });
    expect(shell.callsOf("send_message")).toHaveLength(0);
    fireEvent.keyDown(box, { key: "Enter" });
    await waitFor(() => expect(shell.callsOf("send_message")).toHaveLength(1));
    await waitFor(() => expect(box.value).toBe(""));
    expect(screen.getByRole("button", { name: "Stop generating" })).toBeTruthy();
  });

  it("renders the streaming reply as Markdown, marks it busy, then complete", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    fireEvent.click(screen.getByRole("button", { name: /^Chat/ }));
    store.setDraft("hello");
    await store.send();
    shell.streamNext(2);
    const log = await screen.findByRole("log", { name: "Conversation" });
    const reply = await waitFor(() => within(log).getByRole("listitem", { name: "Assistant" }));
    await waitFor(() => expect(reply.querySelector("strong")?.textContent).toBe("hello"));
    expect(reply.getAttribute("aria-busy")).toBe("true");
    shell.streamNext();
    await waitFor(() => expect(reply.getAttribute("aria-busy")).toBeNull());
    expect(reply.querySelector(".code-block code.language-ts")?.textContent).toContain("const answer = 42;");
    expect(reply.querySelector(".code-bar")?.textContent).toContain("ts");
    expect(screen.getByRole("button", { name: "Send message" })).toBeTruthy();
  });

  it("shows stopped and failed replies", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    fireEvent.click(screen.getByRole("button", { name: /^Chat/ }));
    store.setDraft("hello");
    await store.send();
    shell.streamNext(1);
    await screen.findByText("You said:");
    fireEvent.click(screen.getByRole("button", { name: "Stop generating" }));
    await screen.findByText("Stopped");
    const id = store.state.activeId!;
    const question = store.state.chat!.thread[0].id;
    const failed = { id: "z", role: "assistant", actorId: "assistant", text: "", status: "failed", error: "rate limited", createdAt: "2026-01-01T00:00:00Z", parentId: question, model: null } as const;
    shell.feed(id, { kind: "updates", updates: [{ kind: "message", message: failed }] });
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toBe("The reply failed: rate limited Retry");
    // The failed reply is the second version of the answer; the stopped one is a click away.
    expect(screen.getByText("2 / 2")).toBeTruthy();
  });

  it("the session-expired prompt keeps the draft in the composer", async () => {
    const shell = await renderApp({ signedIn: true, sessions: [{ title: "Chat" }] });
    fireEvent.click(screen.getByRole("button", { name: /^Chat/ }));
    const box = screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement;
    fireEvent.input(box, { target: { value: "do not lose me" } });
    // Refused after its local expiry: it expired (not ended elsewhere).
    shell.expire("expired");
    const dialog = await screen.findByRole("dialog", { name: "Your session expired" });
    expect(dialog.textContent).toContain("Your session expired after 30 days without use. Sign in again.");
    expect(box.value).toBe("do not lose me");
    fireEvent.click(within(dialog).getByRole("button", { name: "Sign in again" }));
    await waitFor(() => expect(shell.signInWaiting()).toBe(true));
    shell.completeSignIn();
    await waitFor(() => expect(dialog.hasAttribute("open")).toBe(false));
    expect((screen.getByRole("textbox", { name: "Message" }) as HTMLTextAreaElement).value).toBe("do not lose me");
  });

  it("toggles the theme through system, light and dark", async () => {
    await renderApp({ signedIn: true });
    const toggle = screen.getByRole("button", { name: /^Theme: System/ });
    fireEvent.click(toggle);
    expect(document.documentElement.dataset.theme).toBe("light");
    fireEvent.click(toggle);
    expect(document.documentElement.dataset.theme).toBe("dark");
    expect(localStorage.getItem("superset.theme")).toBe("dark");
    fireEvent.click(toggle);
    expect(document.documentElement.dataset.theme).toBeUndefined();
  });

  it("every button has an accessible name", async () => {
    await renderApp({ signedIn: true, sessions: [{ title: "One" }, { title: null }] });
    for (const button of screen.getAllByRole("button")) {
      expect((button.getAttribute("aria-label") ?? button.textContent ?? "").trim()).not.toBe("");
    }
    expect(screen.getByRole("button", { name: "Rename Untitled chat" })).toBeTruthy();
  });
});
