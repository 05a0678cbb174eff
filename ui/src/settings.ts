// The assistant's settings as the UI holds them: what `get_settings` answered, the
// models the provider listed, and the composer's model pick per conversation. Keys are
// never here: the shell keeps them and answers only where they are.

import type { Api, AssistantSettings, Message, ProviderKind, StoredKey } from "./ipc";
import { Observed } from "./observed";

/** OpenAI-compatible servers people run, and the base URL each listens at by default. */
export const PRESETS: ReadonlyArray<{ name: string; baseUrl: string }> = [
  { name: "OpenAI", baseUrl: "https://api.openai.com/v1" },
  { name: "Ollama", baseUrl: "http://localhost:11434/v1" },
  { name: "LM Studio", baseUrl: "http://localhost:1234/v1" },
  { name: "llama.cpp", baseUrl: "http://localhost:8080/v1" },
  { name: "vLLM", baseUrl: "http://localhost:8000/v1" },
];

export const PROVIDER_LABEL: Record<ProviderKind, string> = {
  echo: "Offline echo",
  anthropic: "Anthropic",
  openai: "OpenAI-compatible",
};

/** Where a key is kept, in words; never the key itself. */
export function keyWhere(key: StoredKey | null): string {
  if (!key) return "No key set.";
  const where = key.store === "keyring"
    ? "in the OS keyring"
    : `in ${key.file ?? "a file"} (no OS keyring was found; only you can read the file)`;
  return `Set, ${where}${key.ending ? `, ending in …${key.ending}` : ""}.`;
}

/** The model that wrote a reply, as the session stream recorded it. */
export function modelOf(message: Message): string | null {
  // `model` reaches Message with the stream's new fields; older messages have none.
  return (message as Message & { model?: string | null }).model ?? null;
}

/** The conversation's system prompt: the latest system message (an empty one clears it). */
export function systemPromptOf(messages: readonly Message[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === "system") return messages[i].text;
  return "";
}

/** Where a new chat's pick waits until the chat exists. */
export const NEW_CHAT = "";

export interface AssistantState {
  settings: AssistantSettings | null;
  /** What the provider listed; empty when it lists none or could not be asked. */
  models: string[];
  /** The composer's pick per conversation id; none: the settings' model. */
  picks: Record<string, string>;
  dialogOpen: boolean;
}

export class Assistant extends Observed<AssistantState> {

  constructor(private readonly api: Api) {
    super({ settings: null, models: [], picks: {}, dialogOpen: false });
  }

  /** Reads the settings and lists the chosen provider's models; a failed listing leaves the list empty. */
  async load(): Promise<void> {
    try {
      this.loaded(await this.api.getSettings());
    } catch {
      // The composer then offers no picker; the Settings view shows the error when opened.
    }
  }

  /** Takes settings the shell answered, and lists their provider's models again. */
  loaded(settings: AssistantSettings): void {
    const before = this.state.settings;
    // Another provider or server: the picks named its models, not these.
    const moved = before && (before.provider !== settings.provider || before.baseUrl !== settings.baseUrl);
    this.set({ settings, models: [], picks: moved ? {} : this.state.picks });
    void this.api
      .listModels(settings.provider, settings.baseUrl ?? undefined)
      .then((models) => {
        if (this.state.settings === settings) this.set({ models });
      })
      .catch(() => undefined);
  }

  openDialog(): void {
    this.set({ dialogOpen: true });
  }

  closeDialog(): void {
    this.set({ dialogOpen: false });
  }

  /** The settings' model, or its provider's default. */
  defaultModel(): string | null {
    const s = this.state.settings;
    if (!s) return null;
    return s.model ?? s.providers.find((p) => p.provider === s.provider)?.defaultModel ?? null;
  }

  /** The model the next reply in `chat` is asked of. */
  modelFor(chat: string | null): string | null {
    return this.state.picks[chat ?? NEW_CHAT] ?? this.defaultModel();
  }

  /** The composer's pick for `chat`, if one was made (sent with the message). */
  picked(chat: string | null): string | undefined {
    return this.state.picks[chat ?? NEW_CHAT];
  }

  pick(chat: string | null, model: string): void {
    const picks = { ...this.state.picks };
    if (model === this.defaultModel()) delete picks[chat ?? NEW_CHAT];
    else picks[chat ?? NEW_CHAT] = model;
    this.set({ picks });
  }

  /** A new chat got its id: its pick goes with it. */
  moved(from: string, to: string): void {
    if (!(from in this.state.picks)) return;
    const picks = { ...this.state.picks, [to]: this.state.picks[from] };
    delete picks[from];
    this.set({ picks });
  }

  /** What the composer's picker offers for `chat`. */
  choices(chat: string | null): string[] {
    const all = [...this.state.models, this.defaultModel(), this.picked(chat)];
    return [...new Set(all.filter((m): m is string => !!m))];
  }
}
