// A 500-turn chat in Chromium: it opens on its last screen with only the messages near
// the view in the page, scrolling up brings earlier ones in (the view staying put), and
// new messages are followed while at the bottom. Prints the time from the click to the
// last message on screen.

import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { Scenario } from "../test/fake-shell";
import { browserSuite } from "./app";

const openInBrowser = browserSuite();

/** As in the issue: each reply four short paragraphs and a code block. */
function turns(count: number): Array<["user" | "assistant", string]> {
  const paragraph = (i: number, p: number) => `Paragraph ${p} of answer ${i}: a few words that take a line or two.`;
  const messages: Array<["user" | "assistant", string]> = [];
  for (let i = 0; i < count; i++) {
    const reply = [1, 2, 3, 4].map((p) => paragraph(i, p)).join("\n\n") + `\n\n\`\`\`ts\nconst answer${i} = ${i};\n\`\`\``;
    messages.push(["user", `Question ${i}`], ["assistant", reply]);
  }
  return messages;
}

const SCENARIO: Scenario = {
  signedIn: true,
  replyMode: "manual",
  sessions: [
    { title: "Short", minutesAgo: 1, messages: [["user", "Hi"], ["assistant", "Hello."]] },
    { title: "Long", minutesAgo: 60, messages: turns(500) },
  ],
};

/** The messages in the page, and whether the one named is wholly in the view. */
function inPage(page: Page) {
  return page.evaluate(() => {
    const scroller = document.querySelector(".messages-scroll")!.getBoundingClientRect();
    const items = [...document.querySelectorAll<HTMLElement>(".messages > li.message")];
    const visible = items.filter((li) => {
      const box = li.getBoundingClientRect();
      return box.bottom > scroller.top && box.top < scroller.bottom;
    });
    return { count: items.length, visible: visible.map((li) => li.innerText.split("\n").slice(0, 3).join(" ")) };
  });
}

/** Waits until the wheel's scrolling ends: it goes on after the last event is sent. */
async function scrollEnded(page: Page) {
  let last = -1;
  await expect
    .poll(
      async () => {
        const top = await page.locator(".messages-scroll").evaluate((el) => el.scrollTop);
        const still = top === last;
        last = top;
        return still;
      },
      { interval: 250 },
    )
    .toBe(true);
}

/** The turns the texts on screen belong to. */
function turnsShown(texts: string[]): number[] {
  return texts.map((t) => /(?:answer|Question) (\d+)/.exec(t)).filter((m) => m !== null).map((m) => Number(m![1]));
}

describe("a 500-turn chat in Chromium", () => {
  it("opens on its last screen with a bounded page, and scrolling up shows earlier messages", async () => {
    const { page, screenshot } = await openInBrowser(SCENARIO);
    await page.getByRole("button", { name: /^Short/ }).click();
    await page.getByText("Hello.").waitFor();
    const clicked = Date.now();
    await page.getByRole("button", { name: /^Long/ }).click();
    await page.getByText("Paragraph 4 of answer 499").waitFor({ state: "visible" });
    console.log(`long chat: last message on screen ${Date.now() - clicked} ms after the click (fake shell, Chromium)`);
    const opened = await inPage(page);
    expect(opened.count).toBeLessThan(40);
    expect(opened.visible.at(-1)).toContain("answer 499");
    const atBottom = await page.locator(".messages-scroll").evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
    expect(atBottom).toBeLessThan(2);
    await screenshot("long-chat-opened");

    // Scroll up a long way, a wheel at a time: earlier messages come in, the page stays small.
    const scroller = page.locator(".messages-scroll");
    await scroller.hover();
    for (let i = 0; i < 40; i++) await page.mouse.wheel(0, -1200);
    await expect.poll(async () => Math.max(...turnsShown((await inPage(page)).visible))).toBeLessThan(450);
    await scrollEnded(page);
    const before = await inPage(page);
    expect(before.count).toBeLessThan(40);
    expect(turnsShown(before.visible).length).toBeGreaterThan(0);
    // What is on screen stays put while nothing scrolls (heights measured, view anchored).
    await page.waitForTimeout(300);
    expect((await inPage(page)).visible).toEqual(before.visible);
    await screenshot("long-chat-scrolled-up");

    // All the way to the top: the first question.
    await scroller.evaluate((el) => (el.scrollTop = 0));
    await page.getByText("Question 0", { exact: true }).waitFor({ state: "visible" });
    expect((await inPage(page)).count).toBeLessThan(40);
  });

  it("follows a new reply at the bottom and keeps a scrolled-up view where it is", async () => {
    const { page, shell } = await openInBrowser(SCENARIO);
    await page.getByRole("button", { name: /^Long/ }).click();
    await page.getByText("Paragraph 4 of answer 499").waitFor({ state: "visible" });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("One more question");
    await box.press("Enter");
    await shell((s) => s.streamNext());
    await page.locator(".message-user .plain", { hasText: "One more question" }).waitFor({ state: "visible" });
    await page.locator(".message-assistant code.language-ts").last().waitFor();
    await expect.poll(() => page.locator(".messages-scroll").evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight)).toBeLessThan(2);

    const scroller = page.locator(".messages-scroll");
    await scroller.hover();
    for (let i = 0; i < 5; i++) await page.mouse.wheel(0, -1000);
    await scrollEnded(page);
    const shown = (await inPage(page)).visible;
    await box.fill("And another");
    await box.press("Enter");
    await shell((s) => s.streamNext());
    await page.waitForTimeout(300);
    expect((await inPage(page)).visible).toEqual(shown);
  });
});
