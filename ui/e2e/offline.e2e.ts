// Offline in Chromium: the servers down at launch, chats read from the local copy, a
// message typed meanwhile shown waiting, then sent (once) and answered when they're back.

import { describe, expect, it } from "vitest";
import { browserSuite } from "./app";

const openInBrowser = browserSuite();

describe("offline, from the local copy", () => {
  it("reads chats offline, shows a typed message waiting, and sends it once when the network is back", async () => {
    const app = await openInBrowser({
      signedIn: true,
      serversDown: true,
      replyMode: "manual",
      sessions: [
        { title: "Trip plans", messages: [["user", "Where should we go in May?"], ["assistant", "Lisbon is lovely in May."]] },
        { title: "Groceries", minutesAgo: 5, messages: [["user", "Milk, eggs"]] },
      ],
    });
    const { page, shell, screenshot } = app;
    const banner = page.getByTestId("offline-banner");
    await banner.waitFor();
    expect(await banner.innerText()).toContain("You're offline.");

    // Every chat reads from the local copy.
    await page.getByRole("button", { name: /^Groceries/ }).click();
    await page.getByText("Milk, eggs").waitFor();
    await page.getByRole("button", { name: /^Trip plans/ }).click();
    await page.getByText("Lisbon is lovely in May.").waitFor();

    const box = page.getByRole("textbox", { name: "Message" });
    await box.click();
    await box.pressSequentially("Book the flights");
    await box.press("Enter");
    const pending = page.getByRole("listitem", { name: "You (not sent yet)" });
    await pending.waitFor();
    expect(await pending.innerText()).toContain("Waiting for the network");
    expect(await box.inputValue()).toBe("");
    expect(await banner.innerText()).toContain("1 message is waiting");
    await screenshot("offline-pending");

    await shell((s) => s.setServersReachable(true));
    await banner.waitFor({ state: "detached" });
    await pending.waitFor({ state: "detached" });
    const sent = page.getByRole("listitem", { name: "You" }).filter({ hasText: "Book the flights" });
    await sent.waitFor();
    expect(await sent.count()).toBe(1);
    await shell((s) => s.streamNext());
    await page.getByRole("listitem", { name: "Assistant" }).filter({ hasText: "Book the flights" }).waitFor();
    const stored = await shell((s) =>
      s.sessionByTitle("Trip plans")!.updates.filter((u) => u.kind === "message" && u.message.text === "Book the flights").length,
    );
    expect(stored).toBe(1);
  });
});
