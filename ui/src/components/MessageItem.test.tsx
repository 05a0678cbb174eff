import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell } from "../../test/fake-shell";
import { api } from "../ipc";
import { Store } from "../store";
import { App } from "./App";

let store: Store;

afterEach(() => {
  store?.stopAll();
  cleanup();
});

describe("MessageItem while a reply streams", () => {
  it("leaves the earlier messages untouched and shows the whole reply in the end", async () => {
    const history: Array<["user" | "assistant", string]> = [["user", "Q"], ["assistant", "An *earlier* reply.\n\n```py\nx = 1\n```"]];
    const shell = new FakeShell({ replyMode: "manual", signedIn: true, sessions: [{ title: "Chat", messages: history }] }).install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(screen.getByRole("button", { name: /^Chat/ }));
    const earlier = (await screen.findAllByRole("listitem", { name: "Assistant" }))[0];
    await waitFor(() => expect(earlier.querySelector("code.hljs")).toBeTruthy());
    const changes: MutationRecord[] = [];
    const watch = new MutationObserver((records) => changes.push(...records));
    watch.observe(earlier.querySelector(".bubble")!, { subtree: true, childList: true, characterData: true, attributes: true });

    shell.nextReply = Array.from({ length: 200 }, (_, i) => (i % 40 === 39 ? `w${i}\n\n` : `w${i} `));
    store.setDraft("more");
    await store.send();
    for (let i = 0; i < 20; i++) {
      shell.streamNext(10);
      await new Promise((r) => setTimeout(r, 20));
    }
    shell.streamNext();
    const replies = () => screen.getAllByRole("listitem", { name: "Assistant" });
    await waitFor(() => expect(replies()[1].textContent).toContain("w199"));
    expect(replies()[1].textContent).toContain("w0 w1");
    watch.disconnect();
    expect(changes).toEqual([]);
  });
});
