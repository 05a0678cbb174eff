import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell, type Scenario } from "../../test/fake-shell";
import { api } from "../ipc";
import { Store } from "../store";
import { keyWhere } from "../settings";
import { App } from "./App";

let store: Store;
const KEY = "sk-proj-abcdefghijklmnop-SECRET-9876";

async function openSettings(scenario: Scenario = {}) {
  const shell = new FakeShell({ replyMode: "manual", signedIn: true, ...scenario }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  fireEvent.click(await screen.findByRole("button", { name: "Settings" }));
  const dialog = await screen.findByRole("dialog", { name: "Settings" });
  await within(dialog).findByRole("radio", { name: "Offline echo" });
  return { shell, dialog };
}

afterEach(async () => {
  // Let the shell's replay of an opened chat land before its mocks go.
  await new Promise((done) => setTimeout(done, 20));
  store?.stopAll();
  cleanup();
});

describe("Settings", () => {
  it("says where a key is kept and never what it is", () => {
    expect(keyWhere(null)).toBe("No key set.");
    expect(keyWhere({ store: "keyring", file: null, ending: "9876" })).toBe("Set, in the OS keyring, ending in …9876.");
    expect(keyWhere({ store: "file", file: "/home/ada/.superset/api-keys/openai", ending: null })).toBe(
      "Set, in /home/ada/.superset/api-keys/openai (no OS keyring was found; only you can read the file).",
    );
  });

  it("a typed key goes to the shell once and is never shown back, and can be removed", async () => {
    const { shell, dialog } = await openSettings();
    fireEvent.click(within(dialog).getByRole("radio", { name: "Anthropic" }));
    expect(within(dialog).getByTestId("key-status").textContent).toBe("No key set.");
    const input = within(dialog).getByLabelText(/^API key/) as HTMLInputElement;
    expect(input.type).toBe("password");
    fireEvent.input(input, { target: { value: KEY } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save key" }));
    await within(dialog).findByText("Key saved in the OS keyring.");
    expect(shell.callsOf("set_api_key")).toEqual([{ cmd: "set_api_key", args: { provider: "anthropic", key: KEY } }]);
    expect(input.value).toBe("");
    expect(within(dialog).getByTestId("key-status").textContent).toBe("Set, in the OS keyring, ending in …9876.");
    expect(document.body.innerHTML).not.toContain("SECRET");

    // Opened again, the view reads where the key is from the shell: still never the key.
    fireEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    fireEvent.click(screen.getByRole("button", { name: "Settings" }));
    fireEvent.click(await within(dialog).findByRole("radio", { name: "Anthropic" }));
    expect(within(dialog).getByTestId("key-status").textContent).toContain("ending in …9876");
    expect(document.body.innerHTML).not.toContain("SECRET");

    fireEvent.click(within(dialog).getByRole("button", { name: "Remove key" }));
    await within(dialog).findByText("Key removed.");
    expect(within(dialog).getByTestId("key-status").textContent).toBe("No key set.");
    expect(shell.keys.anthropic).toBeUndefined();
  });

  it("a preset fills the base URL, the list comes from the server, and Save keeps the choice", async () => {
    const { shell, dialog } = await openSettings({
      modelServers: { "http://localhost:11434/v1": { kind: "models", models: ["gemma3:1b", "llama3.2:3b"] } },
    });
    fireEvent.click(within(dialog).getByRole("radio", { name: "OpenAI-compatible" }));
    fireEvent.click(within(dialog).getByRole("button", { name: "Ollama" }));
    expect((within(dialog).getByLabelText("Base URL") as HTMLInputElement).value).toBe("http://localhost:11434/v1");
    // Nothing listed yet: the model is typed.
    expect((within(dialog).getByLabelText("Model") as HTMLElement).tagName).toBe("INPUT");
    fireEvent.click(within(dialog).getByRole("button", { name: "Test connection" }));
    await within(dialog).findByText("Connected: 2 models available.");
    const select = within(dialog).getByLabelText("Model") as HTMLSelectElement;
    expect(select.tagName).toBe("SELECT");
    expect([...select.options].map((o) => o.value).slice(0, 3)).toEqual(["gemma3:1b", "llama3.2:3b", "gpt-4o-mini"]);
    // A name the server did not list can still be typed.
    fireEvent.change(select, { target: { value: select.options[3].value } });
    fireEvent.input(within(dialog).getByLabelText("Model"), { target: { value: "mistral:7b" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Choose from the list" }));
    const list = within(dialog).getByLabelText("Model") as HTMLSelectElement;
    expect(list.value).toBe("mistral:7b");
    fireEvent.change(list, { target: { value: "llama3.2:3b" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save settings" }));
    await waitFor(() => expect(dialog.hasAttribute("open")).toBe(false));
    expect(shell.assistant).toEqual({ provider: "openai", model: "llama3.2:3b", baseUrl: "http://localhost:11434/v1" });
    expect(store.assistant.modelFor(null)).toBe("llama3.2:3b");
  });

  it("a failed test says what is wrong in words", async () => {
    const { dialog } = await openSettings({
      modelServers: {
        "http://localhost:8080": { kind: "not-an-api" },
        "http://localhost:1234/v1": { kind: "models", models: ["m"], key: "right-key" },
      },
    });
    fireEvent.click(within(dialog).getByRole("radio", { name: "OpenAI-compatible" }));
    const base = within(dialog).getByLabelText("Base URL");
    const test = async (url: string) => {
      fireEvent.input(base, { target: { value: url } });
      fireEvent.click(within(dialog).getByRole("button", { name: "Test connection" }));
      return (await within(dialog).findByRole("alert")).textContent;
    };
    expect(await test("http://localhost:9999/v1")).toBe("Nothing answered at http://localhost:9999/v1/. Is the server running?");
    expect(await test("http://localhost:8080")).toBe(
      "That address answered, but not like an OpenAI-compatible API. Does the base URL end in /v1?",
    );
    expect(await test("http://localhost:1234/v1")).toBe("The server refused the API key (401). Check it, or set a new one.");
    // Listing failed: the model stays a free-text field.
    expect((within(dialog).getByLabelText("Model") as HTMLElement).tagName).toBe("INPUT");
  });

  it("a key typed but not saved is kept when testing, and leaves the form", async () => {
    const { shell, dialog } = await openSettings({
      modelServers: { "https://api.anthropic.com": { kind: "models", models: ["claude-haiku-4-5"], key: KEY } },
    });
    fireEvent.click(within(dialog).getByRole("radio", { name: "Anthropic" }));
    const input = within(dialog).getByLabelText(/^API key/) as HTMLInputElement;
    fireEvent.input(input, { target: { value: KEY } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Test connection" }));
    await within(dialog).findByText("Connected: 1 model available.");
    expect(shell.callsOf("set_api_key")).toHaveLength(1);
    expect(input.value).toBe("");
    expect(document.body.innerHTML).not.toContain("SECRET");
  });

  it("a bad base URL is refused on save with what to do, and nothing is saved", async () => {
    const { shell, dialog } = await openSettings();
    fireEvent.click(within(dialog).getByRole("radio", { name: "OpenAI-compatible" }));
    fireEvent.input(within(dialog).getByLabelText("Base URL"), { target: { value: "localhost:11434" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Save settings" }));
    const alert = await within(dialog).findByRole("alert");
    expect(alert.textContent).toContain("is not an http:// or https:// address. Fix it in Settings.");
    expect(shell.assistant.provider).toBe("echo");
    expect(dialog.hasAttribute("open")).toBe(true);
  });
});

describe("model picker and system prompt", () => {
  const servers = { "http://localhost:11434/v1": { kind: "models" as const, models: ["gemma3:1b", "llama3.2:3b"] } };
  const assistant = { provider: "openai" as const, model: "gemma3:1b", baseUrl: "http://localhost:11434/v1" };

  it("switches the model for the next reply of this conversation only, and the reply names its model", async () => {
    const shell = new FakeShell({
      signedIn: true, replyMode: "manual", modelServers: servers, assistant,
      sessions: [{ title: "First", minutesAgo: 1 }, { title: "Second", minutesAgo: 2 }],
    }).install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: /^First/ }));
    const picker = (await screen.findByRole("combobox", { name: "Model for the next reply" })) as HTMLSelectElement;
    await waitFor(() => expect([...picker.options].map((o) => o.value)).toEqual(["gemma3:1b", "llama3.2:3b"]));
    expect(picker.value).toBe("gemma3:1b");
    fireEvent.change(picker, { target: { value: "llama3.2:3b" } });
    fireEvent.input(screen.getByRole("textbox", { name: "Message" }), { target: { value: "hello" } });
    fireEvent.click(screen.getByRole("button", { name: "Send message" }));
    await waitFor(() => expect(shell.callsOf("send_message")).toHaveLength(1));
    expect(shell.callsOf("send_message")[0].args.model).toBe("llama3.2:3b");
    shell.streamNext();
    const reply = await screen.findByRole("listitem", { name: "Assistant" });
    await waitFor(() => expect(reply.querySelector(".message-model")?.textContent).toContain("llama3.2:3b"));

    // Another conversation keeps the settings' model.
    fireEvent.click(screen.getByRole("button", { name: /^Second/ }));
    await waitFor(() =>
      expect((screen.getByRole("combobox", { name: "Model for the next reply" }) as HTMLSelectElement).value).toBe("gemma3:1b"),
    );
    fireEvent.input(screen.getByRole("textbox", { name: "Message" }), { target: { value: "hi" } });
    fireEvent.click(screen.getByRole("button", { name: "Send message" }));
    await waitFor(() => expect(shell.callsOf("send_message")).toHaveLength(2));
    expect(shell.callsOf("send_message")[1].args.model).toBeNull();
  });

  it("sets, shows and clears the conversation's system prompt, never as a message", async () => {
    const shell = new FakeShell({ signedIn: true, sessions: [{ title: "Pirates", messages: [["user", "Ahoy"]] }] }).install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: /^Pirates/ }));
    fireEvent.click(await screen.findByRole("button", { name: "Add system prompt" }));
    fireEvent.input(screen.getByRole("textbox", { name: "System prompt" }), { target: { value: "  Talk like a pirate.  " } });
    fireEvent.click(screen.getByRole("button", { name: "Save prompt" }));
    const button = await screen.findByRole("button", { name: "System prompt: on" });
    const id = shell.sessionByTitle("Pirates")!.meta.sessionId;
    expect(shell.callsOf("set_system_prompt")[0].args).toEqual({ sessionId: id, prompt: "Talk like a pirate." });
    expect(screen.queryByRole("listitem", { name: "System" })).toBeNull();
    expect(screen.getAllByRole("listitem")).toHaveLength(1);

    fireEvent.click(button);
    expect((screen.getByRole("textbox", { name: "System prompt" }) as HTMLTextAreaElement).value).toBe("Talk like a pirate.");
    fireEvent.click(screen.getByRole("button", { name: "Clear" }));
    await screen.findByRole("button", { name: "Add system prompt" });
  });

  it("a failed save keeps the typed prompt and says so", async () => {
    const shell = new FakeShell({ signedIn: true, sessions: [{ title: "Pirates" }] }).install();
    shell.failNext("set_system_prompt", { kind: "network", message: "Can't reach the server.", detail: null });
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: /^Pirates/ }));
    fireEvent.click(await screen.findByRole("button", { name: "Add system prompt" }));
    fireEvent.input(screen.getByRole("textbox", { name: "System prompt" }), { target: { value: "Be brief." } });
    fireEvent.click(screen.getByRole("button", { name: "Save prompt" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toBe("The system prompt was not saved: Can't reach the server.. Try again.");
    expect((screen.getByRole("textbox", { name: "System prompt" }) as HTMLTextAreaElement).value).toBe("Be brief.");
  });
});
