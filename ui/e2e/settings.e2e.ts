// Settings and the composer's model picker in the built app, in Chromium, with the
// desktop shell replaced by the fake one. Screenshots go to test-results/.

import type { Locator } from "playwright-core";
import { describe, expect, it } from "vitest";
import { browserSuite } from "./app";

const openInBrowser = browserSuite();

async function expectText(locator: Locator, text: string) {
  await expect.poll(() => locator.textContent()).toContain(text);
}

const OLLAMA = "http://localhost:11434/v1";
const KEY = "sk-local-abcdefghijklmnop-SECRET-1234";

describe("settings in Chromium", () => {
  it("chooses an OpenAI-compatible server by preset, picks a model from its list, and the composer switches models", async () => {
    const app = await openInBrowser({
      signedIn: true,
      replyMode: "manual",
      modelServers: { [OLLAMA]: { kind: "models", models: ["qwen3:8b", "gemma3:1b", "llama3.2:3b"] } },
    });
    const { page, shell, screenshot } = app;
    await page.getByRole("button", { name: "Settings" }).click();
    const dialog = page.getByRole("dialog", { name: "Settings" });
    await dialog.getByRole("radio", { name: "OpenAI-compatible" }).check();
    await dialog.getByRole("button", { name: "Ollama" }).click();
    expect(await dialog.getByLabel("Base URL").inputValue()).toBe(OLLAMA);

    // A key for a server that needs none still goes only to the shell.
    await dialog.getByLabel(/^API key/).fill(KEY);
    await dialog.getByRole("button", { name: "Save key" }).click();
    await expectText(dialog.getByTestId("key-status"), "Set, in the OS keyring, ending in …1234.");
    expect(await dialog.getByLabel(/^API key/).inputValue()).toBe("");
    expect(await page.content()).not.toContain("SECRET");

    await dialog.getByRole("button", { name: "Test connection" }).click();
    await expectText(dialog.getByRole("status").last(), "Connected: 3 models available.");
    await dialog.getByLabel("Model").selectOption("llama3.2:3b");
    await screenshot("settings-openai-compatible-light");
    await dialog.getByRole("button", { name: "Save settings" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await shell((s) => s.assistant)).toEqual({ provider: "openai", model: "llama3.2:3b", baseUrl: OLLAMA });

    // The composer offers the listed models, the saved one chosen.
    const picker = page.getByRole("combobox", { name: "Model for the next reply" });
    await expect.poll(() => picker.inputValue()).toBe("llama3.2:3b");
    await expect.poll(() => picker.locator("option").allTextContents()).toEqual(["gemma3:1b", "llama3.2:3b", "qwen3:8b"]);

    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("first");
    await box.press("Enter");
    await shell((s) => s.streamNext());
    const replies = page.getByRole("listitem", { name: "Assistant" });
    await expectText(replies.first().locator(".message-model"), "llama3.2:3b");

    await picker.selectOption("qwen3:8b");
    await box.fill("second");
    await box.press("Enter");
    await shell((s) => s.streamNext());
    await expectText(replies.nth(1).locator(".message-model"), "qwen3:8b");
    const models = await shell((s) => s.callsOf("send_message").map((c) => c.args.model ?? null));
    expect(models).toEqual([null, "qwen3:8b"]);
    await screenshot("model-picker-light");
  });

  it("says in words why a connection test failed", async () => {
    const app = await openInBrowser({ signedIn: true, modelServers: { "http://localhost:8080": { kind: "not-an-api" } } });
    const { page } = app;
    await page.getByRole("button", { name: "Settings" }).click();
    const dialog = page.getByRole("dialog", { name: "Settings" });
    await dialog.getByRole("radio", { name: "OpenAI-compatible" }).check();
    await dialog.getByRole("button", { name: "llama.cpp" }).click();
    await dialog.getByRole("button", { name: "Test connection" }).click();
    await expectText(dialog.getByRole("alert"), "Nothing answered at http://localhost:8080/v1/. Is the server running?");
    await dialog.getByLabel("Base URL").fill("http://localhost:8080");
    await dialog.getByRole("button", { name: "Test connection" }).click();
    await expectText(dialog.getByRole("alert"), "Does the base URL end in /v1?");
    // Listing failed: the model is typed.
    await dialog.getByLabel("Model").fill("my-local-model");
    await dialog.getByRole("button", { name: "Save settings" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await app.shell((s) => s.assistant.model)).toBe("my-local-model");
  });

  it("sets a conversation's system prompt from its header", async () => {
    const app = await openInBrowser({ signedIn: true, sessions: [{ title: "Pirates", messages: [["user", "Ahoy"]] }] });
    const { page, shell, screenshot } = app;
    await page.getByRole("button", { name: /^Pirates/ }).click();
    await page.getByRole("button", { name: "Add system prompt" }).click();
    await page.getByRole("textbox", { name: "System prompt" }).fill("Talk like a pirate.");
    await screenshot("system-prompt-light");
    await page.getByRole("button", { name: "Save prompt" }).click();
    await page.getByRole("button", { name: "System prompt: on" }).waitFor();
    expect(await shell((s) => s.callsOf("set_system_prompt")[0].args.prompt)).toBe("Talk like a pirate.");
    expect(await page.getByRole("listitem", { name: "System" }).count()).toBe(0);
  });
});
