// Keyboard and comfort, and errors in words, in the built app in Debian's Chromium
// with the fake shell: the shortcuts' help overlay, shortcuts acting, and the offline
// banner's words, countdown and Details.

import { describe, expect, it } from "vitest";
import { browserSuite, openApp } from "./app";

const openInBrowser = browserSuite();

async function open(scenario: Parameters<typeof openApp>[1]) {
  return openInBrowser(scenario);
}

describe("keyboard and comfort in Chromium", () => {
  it("? opens the shortcuts overlay with Ctrl on Linux; Ctrl+/ closes it", async () => {
    const { page, screenshot } = await open({ signedIn: true, sessions: [{ title: "Trip" }, { title: "Recipes", minutesAgo: 5 }] });
    await page.getByRole("navigation", { name: "Chats" }).waitFor();
    await page.locator("body").click({ position: { x: 600, y: 300 } });
    await page.keyboard.press("Shift+?");
    const help = page.getByRole("dialog", { name: "Keyboard shortcuts" });
    await help.waitFor();
    const rows = await help.getByRole("row").allTextContents();
    expect(rows).toContain("New chatCtrlShiftO");
    expect(rows).toContain("Next chatAltDown");
    expect(rows).toContain("Keyboard shortcutsCtrl/ or ?");
    expect(rows.join(" ")).not.toContain("⌘");
    await screenshot("shortcuts-help-light");
    await page.keyboard.press("Control+/");
    await help.waitFor({ state: "hidden" });
    // The top bar's button opens it too.
    await page.getByRole("button", { name: "Keyboard shortcuts" }).click();
    await help.waitFor();
    await page.keyboard.press("Escape");
    await help.waitFor({ state: "hidden" });
  });

  it("Alt+Down and Alt+Up move between chats, Ctrl+Shift+O starts a new one, Shift+Esc focuses the composer", async () => {
    const { page } = await open({ signedIn: true, sessions: [{ title: "Trip" }, { title: "Recipes", minutesAgo: 5 }] });
    const heading = page.locator("#chat-title");
    await expectText(heading, "New chat");
    await page.keyboard.press("Alt+ArrowDown");
    await expectText(heading, "Trip");
    await page.keyboard.press("Alt+ArrowDown");
    await expectText(heading, "Recipes");
    await page.keyboard.press("Alt+ArrowUp");
    await expectText(heading, "Trip");
    await page.keyboard.press("Control+Shift+O");
    await expectText(heading, "New chat");
    await page.getByRole("button", { name: "Signed-in devices" }).focus();
    await page.keyboard.press("Shift+Escape");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Message");
    // A question mark typed in the composer is text, not the help.
    await page.keyboard.type("why?");
    expect(await page.getByRole("textbox", { name: "Message" }).inputValue()).toBe("why?");
    expect(await page.getByRole("dialog", { name: "Keyboard shortcuts" }).isVisible()).toBe(false);
  });
});

describe("errors in words in Chromium", () => {
  it("with the servers down the banner says so, counts down, and keeps the detail behind Details", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, sessions: [{ title: "Chat" }] });
    await page.getByRole("button", { name: /^Chat/ }).click();
    await page.getByRole("heading", { name: "No messages yet" }).waitFor();
    const id = await shell((s) => [...s.sessions.keys()][0]);
    await shell((s, sid) => s.loseConnection(sid, 5), id);
    const banner = page.getByTestId("banner");
    await expectText(banner, "Can't reach the server. Retrying in 5 s.");
    await expectText(banner, "Retrying in 4 s.");
    const text = (await banner.textContent()) ?? "";
    for (const raw of ["http", "127.0.0.1", "offset", "live=sse", "error sending request"]) expect(text).not.toContain(raw);
    const detail = banner.getByText(/Connection refused/);
    expect(await detail.isVisible()).toBe(false);
    await banner.getByText("Details").click();
    await detail.waitFor();
    await screenshot("offline-banner-details-light");
  });
});

async function expectText(locator: import("playwright-core").Locator, text: string) {
  await expect.poll(async () => (await locator.textContent()) ?? "", { timeout: 5000 }).toContain(text);
}
