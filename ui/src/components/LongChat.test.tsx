// A long chat in the page: only the messages near the view are rendered. (jsdom has no
// layout, so heights are the estimates; e2e/long-chat.e2e.ts scrolls a real one.)

import { cleanup, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell } from "../../test/fake-shell";
import { api } from "../ipc";
import { revealMessage } from "../search";
import { Store } from "../store";
import { App } from "./App";

let store: Store;

afterEach(() => {
  store?.stopAll();
  cleanup();
});

function turns(count: number): Array<["user" | "assistant", string]> {
  const messages: Array<["user" | "assistant", string]> = [];
  for (let i = 0; i < count; i++) {
    messages.push(["user", `Question ${i}`], ["assistant", `Answer ${i}.\n\nSecond paragraph.\n\n\`\`\`ts\nconst n = ${i};\n\`\`\``]);
  }
  return messages;
}

async function openLongChat() {
  const shell = new FakeShell({ signedIn: true, replyMode: "manual", sessions: [{ title: "Long", messages: turns(500) }] }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  await store.openSession(store.state.sessions[0].sessionId);
  await waitFor(() => expect(screen.getByText("Answer 499.")).toBeTruthy());
  return shell;
}

const rendered = () => [...document.querySelectorAll<HTMLElement>(".messages > li.message")];

describe("a 500-turn chat", () => {
  it("opens on its last messages with a bounded number in the page", async () => {
    await openLongChat();
    const items = rendered();
    expect(items.length).toBeGreaterThan(2);
    expect(items.length).toBeLessThan(40);
    expect(items.at(-1)!.textContent).toContain("Answer 499.");
    expect(screen.queryByText("Question 0")).toBeNull();
    // The space of the rest is kept, so the scroll bar spans the whole chat.
    const spacer = document.querySelector<HTMLElement>(".messages > .spacer")!;
    expect(parseFloat(spacer.style.height)).toBeGreaterThan(50_000);
  });

  it("brings an early message into the page when search reveals it", async () => {
    await openLongChat();
    const first = store.state.chat!.thread[0].id;
    expect(await revealMessage(first)).toBe(true);
    expect(document.querySelector(`[data-message-id="${first}"]`)?.classList.contains("search-match")).toBe(true);
    expect(rendered().length).toBeLessThan(40);
    expect(screen.queryByText("Answer 499.")).toBeNull();
  });
});
