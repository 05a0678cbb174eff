// Working with replies in Chromium, against the fake shell: regenerate into versions
// and switch between them, edit a message, retry a failed reply, copy a message and a
// code block (highlighted, its language shown), and a reply streamed at 100 deltas/s.

import type { Locator } from "playwright-core";
import { describe, expect, it } from "vitest";
import { browserSuite, openApp } from "./app";

const openInBrowser = browserSuite();

const HISTORY: Array<["user" | "assistant", string]> = [
  ["user", "How do I reverse a list in Python?"],
  ["assistant", "Use slicing:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n\nSlicing makes a **new** list."],
];

async function open(scenario: Parameters<typeof openApp>[1]) {
  const app = await openInBrowser(scenario);
  await app.context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const { page } = app;
  await page.getByRole("button", { name: /^Python help/ }).click();
  await page.getByRole("listitem", { name: "Assistant" }).first().waitFor();
  return app;
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.innerText()) ?? "").trim();
}

describe("working with replies", () => {
  it("regenerates the last reply into two versions and switches between them", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }] });
    const reply = page.getByRole("listitem", { name: "Assistant" });
    const first = await reply.getAttribute("data-message-id");
    await shell((s) => {
      s.nextReply = ["Use ", "`reversed()`."];
    });
    await page.getByRole("button", { name: "Regenerate reply" }).click();
    await page.getByRole("button", { name: "Stop generating" }).waitFor();
    expect(await shell((s) => s.callsOf("regenerate")[0].args)).toMatchObject({ messageId: first });
    await shell((s) => s.streamNext());
    await page.getByText("2 / 2").waitFor();
    expect(await text(reply.locator(".markdown"))).toBe("Use reversed().");
    await screenshot("chat-versions-light");

    await page.getByRole("button", { name: "Previous version" }).click();
    await page.getByText("1 / 2").waitFor();
    expect(await reply.getAttribute("data-message-id")).toBe(first);
    expect(await text(reply.locator(".markdown"))).toContain("Slicing makes a new list.");
    expect(await page.getByRole("button", { name: "Previous version" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Next version" }).click();
    await page.getByText("2 / 2").waitFor();
    // Only one reply is on screen at a time: the thread, not every version.
    expect(await reply.count()).toBe(1);
  });

  it("edits a sent message inline, sends it as a new version, and Cancel changes nothing", async () => {
    const { page, shell } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }] });
    const mine = page.getByRole("listitem", { name: "You" });
    await mine.getByRole("button", { name: "Edit message" }).click();
    const editor = page.getByRole("textbox", { name: "Edited message" });
    expect(await editor.inputValue()).toBe("How do I reverse a list in Python?");
    await editor.fill("something else");
    await page.getByRole("button", { name: "Cancel" }).click();
    expect(await text(mine.locator(".plain"))).toBe("How do I reverse a list in Python?");
    expect(await shell((s) => s.callsOf("edit_message").length)).toBe(0);

    await mine.getByRole("button", { name: "Edit message" }).click();
    await editor.fill("How do I sort a list in Python?");
    await shell((s) => {
      s.nextReply = ["Use `sorted()`."];
    });
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await shell((s) => s.streamNext());
    await page.getByText("Use sorted().").waitFor();
    expect(await text(mine.locator(".plain"))).toBe("How do I sort a list in Python?");
    await mine.getByText("2 / 2").waitFor();
    await mine.getByRole("button", { name: "Previous version" }).click();
    expect(await text(mine.locator(".plain"))).toBe("How do I reverse a list in Python?");
    expect(await text(page.getByRole("listitem", { name: "Assistant" }).locator(".markdown"))).toContain("Slicing");
  });

  it("a failed reply says why and Retry writes a new version", async () => {
    const { page, shell } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }] });
    await shell((s) => {
      s.nextReply = ["Half"];
      s.nextReplyError = "Anthropic is rate limiting requests (429): wait and try again";
    });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("And tuples?");
    await box.press("Enter");
    await shell((s) => s.streamNext());
    const alert = page.getByRole("alert");
    await alert.getByText("rate limiting").waitFor();
    expect(await text(alert)).toContain("The reply failed: Anthropic is rate limiting requests (429)");
    await shell((s) => {
      s.nextReply = ["Tuples are immutable."];
    });
    await alert.getByRole("button", { name: "Retry" }).click();
    await shell((s) => s.streamNext());
    await page.getByText("Tuples are immutable.").waitFor();
    await page.getByText("2 / 2").waitFor();
    expect(await page.getByRole("alert").count()).toBe(0);
  });

  it("copies a message and a highlighted code block, whose language is shown", async () => {
    const { page } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }] });
    const reply = page.getByRole("listitem", { name: "Assistant" });
    await reply.locator("code.hljs .hljs-built_in").first().waitFor();
    expect(await text(reply.locator(".code-language"))).toBe("python");
    await reply.getByRole("button", { name: "Copy code" }).click();
    await reply.getByRole("button", { name: "Copy code" }).getByText("Copied").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("items = [1, 2, 3]\nprint(items[::-1])\n");
    await reply.getByRole("button", { name: "Copy message" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(HISTORY[1][1]);
  });

  it("keeps up with a reply streamed at 100 deltas/s for 5 s", async () => {
    const { page, shell, context } = await open({ signedIn: true, replyMode: "auto", replyIntervalMs: 10, sessions: [{ title: "Python help", messages: HISTORY }] });
    const pieces = Array.from({ length: 500 }, (_, i) =>
      i % 50 === 49 ? `word${i}\n\n` : i % 120 === 0 ? "\n\n```js\nconst x = 1;\n```\n\n" : `word${i} `);
    await shell((s, p) => {
      s.nextReply = p;
    }, pieces);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => {
      const { metrics } = await cdp.send("Performance.getMetrics");
      const get = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
      return get("ScriptDuration") + get("LayoutDuration") + get("RecalcStyleDuration");
    };
    const before = await metric();
    const started = Date.now();
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("write a lot");
    await box.press("Enter");
    const reply = page.getByRole("listitem", { name: "Assistant" }).last();
    await page.getByText("word499").waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: "Send message" }).waitFor({ timeout: 20_000 });
    const elapsed = Date.now() - started;
    const busy = (await metric()) - before;
    const shown = await text(reply.locator(".markdown"));
    expect(shown).toContain("word1 ");
    expect(shown).toContain("word250");
    expect(shown).toContain("word499");
    expect(await reply.locator("code.language-js").count()).toBe(5);
    console.log(
      `[bench] 500 deltas at 100/s: done after ${elapsed} ms; main thread (script+layout+style) ` +
        `${(busy * 1000).toFixed(0)} ms, ${((busy * 1000) / 500).toFixed(2)} ms per delta`,
    );
  });
});
