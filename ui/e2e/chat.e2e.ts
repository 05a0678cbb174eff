// The built app in Debian's Chromium, with the desktop shell replaced by the fake
// one over @tauri-apps/api/mocks. Screenshots of the key screens go to test-results/.

import { describe, expect, it } from "vitest";
import { browserSuite, openApp, trackerHits } from "./app";

const openInBrowser = browserSuite();

const HISTORY: Array<["user" | "assistant", string]> = [
  ["user", "How do I reverse a list in Python?"],
  ["assistant", "Use slicing or `reversed()`:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n\nSlicing makes a **new** list; `list.reverse()` works in place."],
];

async function open(scenario: Parameters<typeof openApp>[1], options?: Parameters<typeof openApp>[2]) {
  return openInBrowser(scenario, options);
}

describe("desktop UI in Chromium", () => {
  it("signs in with visible progress and a working Cancel", async () => {
    const { page, shell, screenshot } = await open({ signedIn: false });
    await page.getByRole("button", { name: "Sign in with your browser" }).click();
    await page.getByRole("progressbar", { name: "Waiting for sign-in to finish" }).waitFor();
    await expectText(page.getByRole("status"), "Waiting for you to finish signing in in your browser…");
    // No browser came up: the page's address is there to open again or copy.
    const address = page.getByRole("textbox", { name: "Sign-in page address" });
    await address.waitFor();
    const url = await address.inputValue();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:8788\/oauth\/authorize\?/);
    await page.getByRole("button", { name: "Open the sign-in page again" }).click();
    await expect.poll(() => shell((s) => s.opened)).toEqual([url]);
    await screenshot("signin-progress-light");
    await page.getByRole("button", { name: "Cancel" }).click();
    await expectText(page.getByRole("alert"), "Sign-in was cancelled.");
    expect(await shell((s) => s.callsOf("cancel_sign_in").length)).toBe(1);

    await page.getByRole("button", { name: "Sign in with your browser" }).click();
    await page.getByRole("progressbar").waitFor();
    await shell((s) => s.completeSignIn());
    await page.getByText("Ada Lovelace").waitFor();
    await page.getByRole("navigation", { name: "Chats" }).waitFor();
    expect(await page.getByRole("button", { name: "Sign out" }).isVisible()).toBe(true);
  });

  it("sends with Enter, keeps Shift+Enter as a new line, and streams the reply in", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }] });
    await page.getByRole("button", { name: /^Python help/ }).click();
    await page.getByRole("listitem", { name: "Assistant" }).first().waitFor();
    const box = page.getByRole("textbox", { name: "Message" });
    await box.click();
    await box.pressSequentially("Show me a loop");
    await box.press("Shift+Enter");
    await box.pressSequentially("in TypeScript");
    expect(await box.inputValue()).toBe("Show me a loop\nin TypeScript");
    expect(await shell((s) => s.callsOf("send_message").length)).toBe(0);
    await box.press("Enter");
    await page.getByRole("button", { name: "Stop generating" }).waitFor();
    expect(await box.inputValue()).toBe("");
    const sent = await shell((s) => s.callsOf("send_message")[0].args);
    expect(sent.content).toBe("Show me a loop\nin TypeScript");

    // The person's text keeps its line break; the reply is Markdown, where it is a soft break.
    expect(await page.getByRole("listitem", { name: "You" }).nth(1).locator(".plain").innerText()).toBe("Show me a loop\nin TypeScript");
    const reply = page.getByRole("listitem", { name: "Assistant" }).nth(1);
    await shell((s) => s.streamNext(2));
    await expectText(reply.locator(".markdown"), "You said: Show me a loop in TypeScript");
    expect(await reply.locator(".markdown strong").textContent()).toBe("Show me a loop\nin TypeScript");
    expect(await reply.getAttribute("aria-busy")).toBe("true");
    expect(await reply.locator(".code-block").count()).toBe(0);
    await screenshot("chat-streaming-light");
    await shell((s) => s.streamNext(3));
    await reply.locator(".code-block code.language-ts").waitFor();
    await shell((s) => s.streamNext());
    await page.getByRole("button", { name: "Send message" }).waitFor();
    expect(await reply.getAttribute("aria-busy")).toBeNull();
    expect(await reply.locator("code.language-ts").textContent()).toBe("const answer = 42;\n");
    await screenshot("chat-complete-light");
  });

  it("streams a timed reply to the end on its own", async () => {
    const { page, shell } = await open({ signedIn: true, replyMode: "auto", replyIntervalMs: 60 });
    // A MutationObserver notes every text the reply showed, to prove it grew piece by piece.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __seen: string[] }).__seen = seen;
      new MutationObserver(() => {
        const text = document.querySelector(".message-assistant .markdown")?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("tell me");
    await box.press("Enter");
    await page.getByRole("heading", { name: "tell me" }).waitFor();
    await page.locator(".message-assistant code.language-ts").waitFor();
    await page.getByRole("button", { name: "Send message" }).waitFor();
    const seen = await page.evaluate(() => (window as unknown as { __seen: string[] }).__seen);
    expect(seen.length).toBeGreaterThanOrEqual(4);
    expect(seen[0].trim()).toBe("You said:");
    expect(await shell((s) => s.replyRunning())).toBe(false);
  });

  it("stops a streaming reply and keeps what was written", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Stories" }] });
    await page.getByRole("button", { name: /^Stories/ }).click();
    await shell((s) => {
      s.nextReply = ["Once upon ", "a time ", "there was ", "a very long story"];
    });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("Tell me a story");
    await box.press("Enter");
    await shell((s) => s.streamNext(2));
    const reply = page.getByRole("listitem", { name: "Assistant" });
    await expectText(reply.locator(".markdown"), "Once upon a time");
    await page.getByRole("button", { name: "Stop generating" }).click();
    await reply.getByText("Stopped").waitFor();
    const stop = await shell((s) => s.callsOf("stop")[0].args);
    expect(stop.messageId).toBe(await reply.getAttribute("data-message-id"));
    expect(await shell((s) => s.replyRunning())).toBe(false);
    expect((await reply.locator(".markdown").textContent())?.trim()).toBe("Once upon a time");
    await page.getByRole("button", { name: "Send message" }).waitFor();
    await screenshot("chat-stopped-light");
  });

  it("asks to sign in again when the session expires, keeping the unsent draft", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, sessions: [{ title: "Draft chat", messages: HISTORY }] });
    await page.getByRole("button", { name: /^Draft chat/ }).click();
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("A long message I have not sent yet");
    await shell((s) => s.expire());
    const dialog = page.getByRole("dialog", { name: "Your session ended" });
    await dialog.waitFor();
    await expectText(dialog, "this device was signed out from another device or the session was revoked");
    await screenshot("expired-prompt-light");
    expect(await box.inputValue()).toBe("A long message I have not sent yet");
    await dialog.getByRole("button", { name: "Sign in again" }).click();
    await dialog.getByRole("progressbar").waitFor();
    await shell((s) => s.completeSignIn());
    await dialog.waitFor({ state: "hidden" });
    expect(await box.inputValue()).toBe("A long message I have not sent yet");
    // The chat replayed on a fresh subscription, and sending works again.
    expect(await shell((s) => s.callsOf("subscribe_session").length)).toBe(2);
    await box.press("Enter");
    await page.getByRole("listitem", { name: "You" }).filter({ hasText: "A long message I have not sent yet" }).waitFor();
    expect(await box.inputValue()).toBe("");
  });

  it("a send refused for an expired session keeps the draft too", async () => {
    const { page, shell } = await open({ signedIn: true, sessions: [{ title: "Chat" }] });
    await page.getByRole("button", { name: /^Chat/ }).click();
    await shell((s) => s.failNext("send_message", { kind: "auth_required", message: "Your session ended.", detail: "401 Unauthorized" }));
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("keep this");
    await box.press("Enter");
    await page.getByRole("dialog", { name: "Your session ended" }).waitFor();
    expect(await box.inputValue()).toBe("keep this");
  });

  for (const csp of [false, true]) {
    it(`sanitizes a hostile reply (CSP ${csp ? "on" : "off"}): no script runs, no remote image loads, links open outside`, async () => {
      const { page, shell, screenshot, problems } = await open({ signedIn: true, replyMode: "manual" }, { csp });
      const requests: string[] = [];
      page.on("request", (r) => requests.push(r.url()));
      await trackerHits();
      const origin = new URL(page.url()).origin;
      await shell((s, base) => {
        s.nextReply = [
          "Here you go:\n\n<script>window.__pwned = 'script'</script>\n\n",
          `<img src="${base}/tracker/raw.png" onerror="window.__pwned = 'onerror'">\n\n`,
          `<img src="x" onerror="window.__pwned = 'onerror2'">\n\n`,
          `![tracking pixel](${base}/tracker/md.png)\n\n`,
          `<a href="javascript:window.__pwned='link'">click me</a> and <b onmouseover="window.__pwned='hover'">hover me</b>\n\n`,
          "[the docs](https://example.com/docs) are good.\n",
          "<iframe src=\"" + base + "/tracker/frame\"></iframe><style>body{background:url(" + base + "/tracker/css.png)}</style>",
        ];
      }, origin);
      const box = page.getByRole("textbox", { name: "Message" });
      await box.fill("show me");
      await box.press("Enter");
      await shell((s) => s.streamNext());
      const reply = page.getByRole("listitem", { name: "Assistant" });
      await reply.getByText("are good.").waitFor();
      await reply.getByText("hover me").hover();
      await reply.getByText("click me").click();
      await page.waitForTimeout(300);
      if (csp) {
        // Chromium reports inline handlers and styles as CSP violations as soon as
        // they are parsed, even into the sanitizer's inert document where nothing
        // runs. Those reports are expected here; anything else is not.
        const parsed = /^console: (Executing inline event handler|Applying inline style) violates/;
        const reported = problems.splice(0);
        expect(reported.filter((p) => !parsed.test(p))).toEqual([]);
        const violations = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations.splice(0));
        expect(violations.filter((v) => !/^(script-src-attr|style-src-elem|style-src-attr) inline$/.test(v))).toEqual([]);
      }
      expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
      expect(await reply.locator("img, script, iframe, style, [onerror], [onmouseover]").count()).toBe(0);
      expect(await reply.locator(".md-image").textContent()).toBe("[image: tracking pixel]");
      expect(requests.filter((u) => u.includes("/tracker"))).toEqual([]);
      expect(await trackerHits()).toEqual([]);
      const before = page.url();
      await reply.getByRole("link", { name: "the docs" }).click();
      expect(page.url()).toBe(before);
      expect(await shell((s) => s.opened)).toEqual(["https://example.com/docs"]);
      expect(await page.context().pages()).toHaveLength(1);
      if (csp) await screenshot("sanitized-reply-light");
    });
  }

  it("renames and deletes chats", async () => {
    const { page, shell, screenshot } = await open({
      signedIn: true,
      sessions: [{ title: "Groceries", minutesAgo: 3 }, { title: "Trip to Lisbon", minutesAgo: 60 }, { title: null, minutesAgo: 3000 }],
    });
    const chats = page.getByRole("list", { name: "Your chats" });
    expect(await chats.locator(".session-title").allTextContents()).toEqual(["Groceries", "Trip to Lisbon", "Untitled chat"]);
    await page.getByRole("button", { name: /^Trip to Lisbon/ }).click();
    await screenshot("session-list-light");
    await page.getByRole("button", { name: "Rename Trip to Lisbon" }).click();
    const input = page.getByRole("textbox", { name: "New title for Trip to Lisbon" });
    // Focus moves in an effect after the form paints: wait for it.
    await expect.poll(() => input.evaluate((el) => el === document.activeElement)).toBe(true);
    await input.fill("Lisbon in May");
    await input.press("Enter");
    await page.getByRole("heading", { name: "Lisbon in May" }).waitFor();
    expect(await chats.locator(".session-title").allTextContents()).toContain("Lisbon in May");
    expect(await shell((s) => s.callsOf("rename_session")[0].args.title)).toBe("Lisbon in May");

    // Escape leaves the title alone.
    await page.getByRole("button", { name: "Rename Groceries" }).click();
    await page.getByRole("textbox", { name: "New title for Groceries" }).fill("nope");
    await page.getByRole("textbox", { name: "New title for Groceries" }).press("Escape");
    expect(await shell((s) => s.callsOf("rename_session").length)).toBe(1);

    await page.getByRole("button", { name: "Delete Lisbon in May" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete “Lisbon in May”?" });
    await dialog.waitFor();
    await screenshot("delete-confirm-light");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await chats.locator(".session-title").count()).toBe(3);
    await page.getByRole("button", { name: "Delete Lisbon in May" }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await chats.locator(".session-title").allTextContents()).toEqual(["Groceries", "Untitled chat"]);
    expect(await shell((s) => s.sessionByTitle("Lisbon in May"))).toBeUndefined();
    await page.getByRole("heading", { name: "New chat", exact: true }).waitFor();
  });

  it("shows an offline banner that retries until the server is back, without losing the draft", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, sessions: [{ title: "Chat" }] });
    await page.getByRole("button", { name: /^Chat/ }).click();
    await shell((s) => {
      s.offline = true;
    });
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("sent while offline");
    await box.press("Enter");
    const banner = page.getByTestId("banner");
    await expectText(banner, "Can't reach the server. You're still signed in; try again in a moment.");
    await expectText(banner, "Retrying in");
    expect(await banner.textContent()).not.toContain("127.0.0.1");
    expect(await box.inputValue()).toBe("sent while offline");
    // It keeps retrying on its own.
    const probes = await shell((s) => s.callsOf("list_sessions").length);
    await page.waitForFunction((n) => (window as unknown as { __shell: { callsOf(c: string): unknown[] } }).__shell.callsOf("list_sessions").length > n, probes);
    await screenshot("offline-banner-light");
    await shell((s) => {
      s.offline = false;
    });
    await banner.waitFor({ state: "hidden" });
    await box.press("Enter");
    await page.getByRole("listitem", { name: "You" }).waitFor();
  });

  it("shows a server-error banner with Retry now, and a reconnecting banner from the feed", async () => {
    const { page, shell } = await open({ signedIn: true, sessions: [{ title: "Chat", messages: HISTORY }] });
    await shell((s) => s.failWithStatus("start_session", 500));
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("hello");
    await box.press("Enter");
    const banner = page.getByTestId("banner");
    await expectText(banner, "The server ran into a problem (error 500). Try again later.");
    // The technical detail only behind "Details".
    expect(await banner.getByText("GET /v1/sessions: the server answered 500").isVisible()).toBe(false);
    await banner.getByText("Details").click();
    await banner.getByText("GET /v1/sessions: the server answered 500").waitFor();
    await banner.getByRole("button", { name: "Retry now" }).click();
    await banner.waitFor({ state: "hidden" });

    await page.getByRole("button", { name: /^Chat/ }).click();
    await page.getByRole("listitem", { name: "Assistant" }).waitFor();
    const id = await shell((s) => [...s.sessions.keys()].find((k) => s.sessions.get(k)!.meta.title === "Chat")!);
    await shell((s, sid) => s.loseConnection(sid, 5), id);
    await expectText(banner, "Can't reach the server.");
    await expectText(banner, "Retrying in 5 s.");
    await expectText(banner, "Retrying in 4 s.");
    // Caught up again: the shell's empty batch clears the banner.
    await shell((s, sid) => s.feed(sid, { kind: "updates", updates: [] }), id);
    await banner.waitFor({ state: "hidden" });
    expect(await page.getByRole("listitem", { name: "Assistant" }).count()).toBe(1);
  });

  it("follows the system colour scheme, has a theme toggle, and signs out", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, replyMode: "manual", sessions: [{ title: "Python help", messages: HISTORY }, { title: "Groceries", minutesAgo: 30 }] }, { colorScheme: "dark" });
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.getByRole("button", { name: /^Python help/ }).click();
    await page.getByRole("listitem", { name: "Assistant" }).waitFor();
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("and in place?");
    await box.press("Enter");
    await shell((s) => s.streamNext(3));
    await page.getByRole("listitem", { name: "Assistant" }).nth(1).locator(".markdown").getByText("and in place?").waitFor();
    const dark = await background();
    expect(dark).toBe("rgb(21, 23, 28)");
    await screenshot("chat-streaming-dark");
    await page.getByRole("button", { name: /^Theme: System/ }).click();
    expect(await background()).toBe("rgb(255, 255, 255)");
    await page.getByRole("button", { name: /^Theme: Light/ }).click();
    expect(await background()).toBe(dark);
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe("dark");
    await shell((s) => s.streamNext());
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in with your browser" }).waitFor();
    expect(await shell((s) => s.signedIn)).toBe(false);
    await screenshot("signin-dark");
  });

  it("moves focus in a sensible order with a visible focus ring", async () => {
    const { page } = await open({ signedIn: true, sessions: [{ title: "Chat" }] });
    await page.getByRole("textbox", { name: "Message" }).waitFor();
    const theme = page.getByRole("button", { name: /^Theme/ });
    await theme.focus();
    const order: string[] = [];
    const rings: string[] = [];
    for (let i = 0; i < 13; i++) {
      if (i > 0) await page.keyboard.press("Tab");
      const info = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const style = getComputedStyle(el);
        return { name: el.getAttribute("aria-label") ?? el.textContent?.trim() ?? el.tagName, ring: el.matches(":focus-visible") ? `${style.outlineStyle} ${style.outlineWidth}` : "not focus-visible" };
      });
      order.push(info.name);
      rings.push(info.ring);
    }
    expect(order).toEqual([
      "Theme: System. Switch to Light", "Settings", "Keyboard shortcuts", "Signed-in devices", "Sign out", "Search chats",
      "New chat", expect.stringMatching(/^Chat/), "Rename Chat", "Delete Chat", "Import chat…", "Message", expect.anything(),
    ]);
    // Focus moved by the keyboard shows the ring (the first was focused by script).
    expect(rings.slice(1, 12)).toEqual(Array(11).fill("solid 2px"));
  });

  it("lists signed-in devices, signs one out after confirming, and Escape closes", async () => {
    const { page, shell, screenshot } = await open({ signedIn: true, sessions: [{ title: "Chat" }] });
    await page.getByRole("button", { name: "Signed-in devices" }).click();
    const dialog = page.getByRole("dialog", { name: "Signed-in devices" });
    await dialog.getByRole("list", { name: "Devices" }).waitFor();
    expect(await dialog.getByRole("listitem").count()).toBe(3);
    await expectText(dialog.getByRole("listitem").first(), "This device");
    await screenshot("devices");
    await dialog.getByRole("button", { name: "Sign out Mozilla/5.0 (iPhone)" }).click();
    // Escape backs out of the confirmation, keeping the dialog open.
    await page.keyboard.press("Escape");
    await dialog.getByRole("button", { name: "Sign out Mozilla/5.0 (iPhone)" }).click();
    await dialog.getByRole("button", { name: "Confirm sign out" }).click();
    await expectText(dialog.getByRole("status"), "Signed out Mozilla/5.0 (iPhone).");
    await expect.poll(() => dialog.getByRole("listitem").count()).toBe(2);
    expect(await shell((s) => s.callsOf("revoke_device").map((c) => c.args))).toEqual([{ deviceId: "device-phone" }]);
    await page.keyboard.press("Escape");
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await page.getByRole("button", { name: "Sign out", exact: true }).isVisible()).toBe(true);
  });
});

async function expectText(locator: import("playwright-core").Locator, text: string) {
  await locator.filter({ hasText: text }).first().waitFor({ timeout: 5000 });
  expect(await locator.first().innerText()).toContain(text);
}
