// The composer's model picker (the model for the next reply of this conversation),
// the label naming the model that wrote a reply, and the conversation's system prompt.

import { useState } from "preact/hooks";
import type { Message } from "../ipc";
import { isCommandError } from "../ipc";
import { modelOf, systemPromptOf, type Assistant } from "../settings";
import { useObserved } from "./hooks";

export function ModelPicker({ assistant, chat }: { assistant: Assistant; chat: string | null }) {
  useObserved(assistant);
  const choices = assistant.choices(chat);
  const current = assistant.modelFor(chat);
  if (!current || assistant.state.settings?.provider === "echo") return null;
  return (
    <select
      class="model-picker"
      aria-label="Model for the next reply"
      title="Model for the next reply"
      value={current}
      onChange={(e) => assistant.pick(chat, e.currentTarget.value)}
    >
      {choices.map((m) => (
        <option key={m} value={m}>{m}</option>
      ))}
    </select>
  );
}

export function ModelLabel({ message }: { message: Message }) {
  const model = modelOf(message);
  if (message.role !== "assistant" || !model) return null;
  return <div class="message-model" title="The model that wrote this reply">{model}</div>;
}

/** The conversation header's system prompt: shown, edited, cleared. */
export function SystemPrompt({ sessionId, messages, save }: {
  sessionId: string;
  messages: readonly Message[];
  save: (sessionId: string, prompt: string) => Promise<null>;
}) {
  const prompt = systemPromptOf(messages);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (text: string) => {
    setBusy(true);
    setError(null);
    try {
      await save(sessionId, text.trim());
      setEditing(null);
    } catch (e) {
      setError(`The system prompt was not saved: ${isCommandError(e) ? e.message : String(e)}. Try again.`);
    } finally {
      setBusy(false);
    }
  };
  if (editing === null) {
    return (
      <button
        type="button"
        class={`ghost small system-prompt-button${prompt ? " set" : ""}`}
        title={prompt || "No system prompt"}
        onClick={() => setEditing(prompt)}
      >
        {prompt ? "System prompt: on" : "Add system prompt"}
      </button>
    );
  }
  return (
    <form
      class="system-prompt"
      aria-label="System prompt"
      onSubmit={(e) => {
        e.preventDefault();
        void submit(editing);
      }}
    >
      <textarea
        aria-label="System prompt"
        rows={3}
        value={editing}
        placeholder="How the assistant should behave in this conversation, e.g. “Answer briefly, in French.”"
        onInput={(e) => setEditing(e.currentTarget.value)}
      />
      {error && <p role="alert" class="settings-error">{error}</p>}
      <div class="dialog-actions">
        {prompt && (
          <button type="button" class="secondary small" disabled={busy} onClick={() => void submit("")}>
            Clear
          </button>
        )}
        <button type="button" class="secondary small" disabled={busy} onClick={() => setEditing(null)}>
          Cancel
        </button>
        <button type="submit" class="primary small" disabled={busy}>
          Save prompt
        </button>
      </div>
    </form>
  );
}
