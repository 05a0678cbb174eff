import { afterEach, describe, expect, it } from "vitest";
import { FakeShell } from "../test/fake-shell";
import { api } from "./ipc";
import { Assistant, NEW_CHAT, systemPromptOf } from "./settings";
import type { Message } from "./contract";

const OLLAMA = "http://localhost:11434/v1";

async function loaded(): Promise<{ shell: FakeShell; assistant: Assistant }> {
  const shell = new FakeShell({
    assistant: { provider: "openai", model: "gemma3:1b", baseUrl: OLLAMA },
    modelServers: { [OLLAMA]: { kind: "models", models: ["llama3.2:3b", "gemma3:1b"] } },
  }).install();
  const assistant = new Assistant(api);
  await assistant.load();
  await new Promise((done) => setTimeout(done, 0));
  return { shell, assistant };
}

afterEach(() => new Promise((done) => setTimeout(done, 10)));

describe("the assistant's settings in the UI", () => {
  it("picks are per conversation, default to the settings' model, and follow a new chat to its id", async () => {
    const { assistant } = await loaded();
    expect(assistant.state.models).toEqual(["gemma3:1b", "llama3.2:3b"]);
    expect(assistant.modelFor("chat-a")).toBe("gemma3:1b");
    expect(assistant.picked("chat-a")).toBeUndefined();
    assistant.pick("chat-a", "llama3.2:3b");
    expect(assistant.modelFor("chat-a")).toBe("llama3.2:3b");
    expect(assistant.modelFor("chat-b")).toBe("gemma3:1b");
    // Picking the default again is no pick at all.
    assistant.pick("chat-a", "gemma3:1b");
    expect(assistant.picked("chat-a")).toBeUndefined();

    assistant.pick(null, "llama3.2:3b");
    assistant.moved(NEW_CHAT, "chat-new");
    expect(assistant.picked("chat-new")).toBe("llama3.2:3b");
    expect(assistant.picked(null)).toBeUndefined();
  });

  it("another provider drops the picks, which named the old one's models", async () => {
    const { assistant } = await loaded();
    assistant.pick("chat-a", "llama3.2:3b");
    assistant.loaded(await api.saveSettings("anthropic", null, null));
    expect(assistant.picked("chat-a")).toBeUndefined();
    expect(assistant.modelFor("chat-a")).toBe("claude-sonnet-4-5");
  });

  it("the latest system message is the prompt; an empty one clears it", () => {
    const message = (role: Message["role"], text: string) => ({ role, text }) as Message;
    expect(systemPromptOf([message("user", "hi")])).toBe("");
    expect(systemPromptOf([message("system", "one"), message("user", "hi"), message("system", "two")])).toBe("two");
    expect(systemPromptOf([message("system", "one"), message("system", "")])).toBe("");
  });
});
