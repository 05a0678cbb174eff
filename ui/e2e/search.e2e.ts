// Search, export and import in Chromium against the fake shell: a message in another
// chat is found as one types and opens there, scrolled into view and highlighted.

import { describe, expect, it } from "vitest";
import type { Scenario } from "../test/fake-shell";
import { browserSuite } from "./app";

const openInBrowser = browserSuite();

/** A long chat whose one mention of "quokka" is near the top, far above the fold. */
function longChat(): Array<["user" | "assistant", string]> {
  const messages: Array<["user" | "assistant", string]> = [
    ["user", "What animal smiles in every photo?"],
    ["assistant", "The **quokka**, a small marsupial from Rottnest Island."],
  ];
  for (let i = 0; i < 30; i++) {
    messages.push(["user", `Question ${i} about something else entirely`]);
    messages.push(["assistant", `Answer ${i}: a paragraph that takes room on the screen so the chat scrolls.`]);
  }
  return messages;
}

const SCENARIO: Scenario = {
  signedIn: true,
  replyMode: "manual",
  sessions: [
    { title: "Groceries", minutesAgo: 1, messages: [["user", "Milk and eggs"], ["assistant", "Noted."]] },
    { title: "Animals", minutesAgo: 60, messages: longChat() },
  ],
};

describe("search in Chromium", () => {
  it("finds a message in another chat as one types and opens that chat at it", async () => {
    const app = await openInBrowser(SCENARIO);
    const { page, shell, screenshot } = app;
    await page.getByRole("button", { name: /^Groceries/ }).click();
    await page.getByText("Milk and eggs").waitFor();

    const box = page.getByRole("searchbox", { name: "Search chats" });
    await box.click();
    await box.pressSequentially("Quokka", { delay: 20 });
    const results = page.getByRole("list", { name: "Search results" });
    // While the last letters are typed, a shorter query's results may still show.
    const hit = results.getByRole("button", { name: /Animals/ }).filter({ has: page.locator("mark", { hasText: /^quokka$/i }) });
    await hit.waitFor();
    expect(await hit.locator("mark").textContent()).toBe("quokka");
    expect(await shell((s) => s.callsOf("search").length)).toBeLessThan(6);
    await screenshot("search-results-light");

    await box.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Animals" }).waitFor();
    const found = page.locator(".search-match");
    await found.waitFor();
    expect(await found.innerText()).toContain("a small marsupial from Rottnest Island");
    await expect.poll(() => found.evaluate((el) => {
      const box = el.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= window.innerHeight;
    })).toBe(true);
    expect(await results.count()).toBe(0);
    await screenshot("search-opened-at-match-light");
  });

  it("exports the chat through the shell and opens an imported one", async () => {
    const app = await openInBrowser(SCENARIO);
    const { page, shell } = app;
    await page.getByRole("button", { name: /^Groceries/ }).click();
    await page.getByText("Export", { exact: true }).click();
    await page.getByRole("button", { name: "As JSON (to import)…" }).click();
    await page.getByText("Saved the conversation to /home/ada/Documents/Groceries.json.").waitFor();
    expect(await shell((s) => s.exports.map((e) => e.format))).toEqual(["json"]);

    await shell((s) => {
      s.importAnswer = { title: "From a file", messages: [["user", "Imported question"], ["assistant", "Imported answer"]] };
    });
    await page.getByRole("button", { name: "Import chat…" }).click();
    await page.getByRole("heading", { level: 1, name: "From a file" }).waitFor();
    await page.getByText("Imported answer").waitFor();
  });
});
