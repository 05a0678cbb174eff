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
  await screen.findByRole("navigation", { name: "Chats" });
  return shell;
}

afterEach(() => {
  store?.stopAll();
  cleanup();
});

const CHATS: Scenario["sessions"] = [
  { title: "Groceries", minutesAgo: 1, messages: [["user", "Milk and eggs"], ["assistant", "Noted."]] },
  {
    title: "Trip to Lyon",
    minutesAgo: 30,
    messages: [["user", "Where should we eat?"], ["assistant", "Try a bouchon in the Vieux Lyon."], ["user", "Thanks!"]],
  },
];

function search(text: string) {
  fireEvent.input(screen.getByRole("searchbox", { name: "Search chats" }), { target: { value: text } });
}

describe("search", () => {
  it("finds a message in another chat and opens that chat at it, highlighted", async () => {
    const shell = await renderApp({ signedIn: true, sessions: CHATS });
    fireEvent.click(screen.getByRole("button", { name: /^Groceries/ }));
    search("BOUCHON");
    const results = await screen.findByRole("list", { name: "Search results" });
    const hit = within(results).getByRole("button", { name: /Trip to Lyon/ });
    expect(hit.querySelector("mark")?.textContent).toBe("bouchon");
    expect(shell.callsOf("search").at(-1)?.args).toEqual({ query: "BOUCHON", limit: 30 });
    fireEvent.click(hit);
    await waitFor(() => expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Trip to Lyon"));
    const lyon = shell.sessionByTitle("Trip to Lyon")!;
    const reply = lyon.updates.find((u) => u.kind === "message" && u.message.role === "assistant");
    const id = reply?.kind === "message" ? reply.message.id : "";
    await waitFor(() => {
      const shown = document.querySelector(`[data-message-id="${id}"]`);
      expect(shown?.classList.contains("search-match")).toBe(true);
    });
    expect(screen.queryByRole("list", { name: "Search results" })).toBeNull();
  });

  it("waits for a pause in typing, lists titles first, and Enter opens the selected result", async () => {
    const shell = await renderApp({ signedIn: true, sessions: CHATS });
    search("l");
    search("ly");
    search("lyon");
    const results = await screen.findByRole("list", { name: "Search results" });
    expect(shell.callsOf("search")).toHaveLength(1);
    const titles = within(results).getAllByRole("button").map((b) => b.textContent);
    expect(titles[0]).toBe("Trip to LyonTrip to Lyon");
    expect(titles[1]).toContain("Vieux Lyon.");
    const box = screen.getByRole("searchbox", { name: "Search chats" });
    fireEvent.keyDown(box, { key: "ArrowDown" });
    expect(within(results).getAllByRole("button")[1].getAttribute("aria-current")).toBe("true");
    fireEvent.keyDown(box, { key: "Enter" });
    await waitFor(() => expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Trip to Lyon"));
    // The message is found and highlighted: nothing keeps looking for it after the test.
    await waitFor(() => expect(document.querySelector(".search-match")?.textContent).toContain("Vieux Lyon."));
  });

  it("says when nothing matches, and Escape clears", async () => {
    await renderApp({ signedIn: true, sessions: CHATS });
    search("quokka");
    expect((await screen.findByRole("status")).textContent).toBe("No chat has “quokka”.");
    fireEvent.keyDown(screen.getByRole("searchbox"), { key: "Escape" });
    await waitFor(() => expect(screen.queryByText(/No chat has/)).toBeNull());
  });
});

describe("export and import", () => {
  it("exports the open chat in the chosen format and says where it went", async () => {
    const shell = await renderApp({ signedIn: true, sessions: CHATS });
    fireEvent.click(screen.getByRole("button", { name: /^Trip to Lyon/ }));
    fireEvent.click(await screen.findByText("As Markdown…"));
    await screen.findByText("Saved the conversation to /home/ada/Documents/Trip to Lyon.md.");
    const lyon = shell.sessionByTitle("Trip to Lyon")!.meta.sessionId;
    expect(shell.exports).toEqual([{ sessionId: lyon, format: "markdown", path: "/home/ada/Documents/Trip to Lyon.md" }]);

    shell.exportAnswer = null;
    store.dismissNotice();
    fireEvent.click(screen.getByText("As JSON (to import)…"));
    await waitFor(() => expect(shell.callsOf("export_chat")).toHaveLength(2));
    expect(shell.callsOf("export_chat")[1].args).toEqual({ sessionId: lyon, format: "json" });
    expect(shell.exports).toHaveLength(1);
    expect(screen.queryByText(/Saved the conversation/)).toBeNull();
  });

  it("opens an imported chat, and says why a file was refused", async () => {
    const shell = await renderApp({ signedIn: true, sessions: CHATS });
    shell.importAnswer = { title: "Imported plans", messages: [["user", "Plan the week"], ["assistant", "Monday: rest."]] };
    fireEvent.click(screen.getByRole("button", { name: "Import chat…" }));
    await waitFor(() => expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Imported plans"));
    await screen.findByText("Monday: rest.");
    const list = screen.getByRole("list", { name: "Your chats" });
    expect(within(list).getAllByRole("button", { name: /^Imported plans/ })).toHaveLength(1);

    const refusal = "this file is not a Superset chat export (its \"format\" is \"chatgpt\"); choose a file Superset exported as JSON";
    shell.failNext("import_chat", { kind: "invalid", message: refusal, detail: null });
    fireEvent.click(screen.getByRole("button", { name: "Import chat…" }));
    await screen.findByText(`Nothing was imported: ${refusal}`);
    expect(shell.sessions.size).toBe(3);
  });
});
