// Settings: which assistant replies (offline echo, Anthropic, or any OpenAI-compatible
// server), its model, base URL and API key; then updates (Updates.tsx). A typed key
// goes to the shell once and is never shown back: only where it is kept and its last
// characters.

import { useEffect, useRef, useState } from "preact/hooks";
import type { AssistantSettings, CommandError, ConnectionTest, ProviderKind, StoredKey } from "../ipc";
import { api, isCommandError } from "../ipc";
import { Assistant, keyWhere, PRESETS, PROVIDER_LABEL } from "../settings";
import type { Updates } from "../updates";
import { useObserved } from "./hooks";
import { UpdateSettings } from "./Updates";

const KINDS: ProviderKind[] = ["echo", "anthropic", "openai"];
/** The model list's last choice: a name the server did not list. */
const OTHER = "\u0000other";

function message(error: unknown): string {
  const e: CommandError = isCommandError(error) ? error : { kind: "invalid", message: String(error), detail: null };
  return e.message;
}

/** The form's fields, before they are saved. */
interface Form {
  provider: ProviderKind;
  model: string;
  baseUrl: string;
}

function formOf(s: AssistantSettings): Form {
  return { provider: s.provider, model: s.model ?? "", baseUrl: s.baseUrl ?? "" };
}

export function SettingsDialog({ assistant, updates }: { assistant: Assistant; updates: Updates }) {
  const { settings, dialogOpen } = useObserved(assistant);
  const ref = useRef<HTMLDialogElement>(null);
  const [form, setForm] = useState<Form | null>(null);
  const [keys, setKeys] = useState<Partial<Record<ProviderKind, StoredKey | null>>>({});
  const [typedKey, setTypedKey] = useState("");
  const [models, setModels] = useState<string[]>([]);
  const [test, setTest] = useState<ConnectionTest | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [keyNote, setKeyNote] = useState<string | null>(null);
  /** The model is typed rather than chosen from the list. */
  const [typing, setTyping] = useState(false);

  useEffect(() => {
    const dialog = ref.current;
    if (dialogOpen && dialog && !dialog.open) {
      dialog.showModal();
      void reload();
    }
    if (!dialogOpen && dialog?.open) dialog.close();
  }, [dialogOpen]);

  const reload = async () => {
    setForm(null);
    setTest(null);
    setError(null);
    setKeyNote(null);
    setTyping(false);
    setTypedKey("");
    try {
      const fresh = await api.getSettings();
      setForm(formOf(fresh));
      setKeys(Object.fromEntries(fresh.providers.map((p) => [p.provider, p.key])));
      setModels(assistant.state.settings?.provider === fresh.provider ? assistant.state.models : []);
    } catch (e) {
      setError(message(e));
    }
  };

  const info = settings?.providers.find((p) => p.provider === form?.provider);
  const update = (patch: Partial<Form>) => {
    if (!form) return;
    const next = { ...form, ...patch };
    // Another provider or server: its models are not these.
    if (patch.provider !== undefined || patch.baseUrl !== undefined) {
      setModels([]);
      setTest(null);
    }
    if (patch.provider !== undefined && patch.provider !== form.provider) next.model = "";
    setForm(next);
  };

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  /** A key typed but not yet saved goes first: testing or saving means using it. */
  const keepTypedKey = async () => {
    if (!form || form.provider === "echo" || !typedKey.trim()) return;
    const stored = await api.setApiKey(form.provider, typedKey);
    setTypedKey("");
    setKeys({ ...keys, [form.provider]: stored });
  };

  const testConnection = () =>
    run(async () => {
      if (!form) return;
      setTest(null);
      await keepTypedKey();
      const result = await api.testConnection(form.provider, form.baseUrl.trim() || undefined);
      setTest(result);
      setModels(result.models);
      setTyping(false);
    });

  const saveKey = () =>
    run(async () => {
      if (!form || !typedKey.trim()) return;
      const stored = await api.setApiKey(form.provider, typedKey);
      // The key is the shell's now: forget it here.
      setTypedKey("");
      setKeys({ ...keys, [form.provider]: stored });
      setKeyNote(stored.store === "keyring" ? "Key saved in the OS keyring." : `No OS keyring found: key saved in ${stored.file}, readable only by you.`);
    });

  const removeKey = () =>
    run(async () => {
      if (!form) return;
      await api.deleteApiKey(form.provider);
      setKeys({ ...keys, [form.provider]: null });
      setKeyNote("Key removed.");
    });

  const save = () =>
    run(async () => {
      if (!form) return;
      await keepTypedKey();
      const saved = await api.saveSettings(form.provider, form.model.trim() || null, form.baseUrl.trim() || null);
      assistant.loaded(saved);
      assistant.closeDialog();
    });

  const key = form ? keys[form.provider] ?? null : null;
  const defaultModel = info?.defaultModel ?? "";
  const modelChoices = [...new Set([...models, form?.model || defaultModel].filter(Boolean))];

  return (
    <dialog ref={ref} class="dialog settings-dialog" aria-labelledby="settings-title" onClose={() => assistant.closeDialog()}>
      <h2 id="settings-title">Settings</h2>
      <p class="muted">
        Which assistant writes the replies. The command line (<code>superset config</code>) uses the same settings.
      </p>
      {!form && !error && <p role="status" class="muted" aria-busy="true">Loading settings…</p>}
      {form && (
        <form
          class="settings-form"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <fieldset class="settings-providers">
            <legend>Provider</legend>
            {KINDS.map((kind) => (
              <label key={kind} class="radio">
                <input type="radio" name="provider" value={kind} checked={form.provider === kind} onChange={() => update({ provider: kind })} />
                {PROVIDER_LABEL[kind]}
              </label>
            ))}
          </fieldset>
          {form.provider === "echo" && (
            <p class="muted">Answers with your own words, offline. No model or key needed: good for trying the app.</p>
          )}
          {form.provider === "openai" && (
            <div class="presets" role="group" aria-label="Presets">
              <span class="muted">Presets:</span>
              {PRESETS.map((preset) => (
                <button key={preset.name} type="button" class="secondary small" onClick={() => update({ baseUrl: preset.baseUrl })}>
                  {preset.name}
                </button>
              ))}
            </div>
          )}
          {form.provider !== "echo" && (
            <label class="field">
              <span>Base URL</span>
              <input
                type="url"
                value={form.baseUrl}
                placeholder={info?.defaultBaseUrl ?? ""}
                spellcheck={false}
                onInput={(e) => update({ baseUrl: e.currentTarget.value })}
              />
            </label>
          )}
          {form.provider !== "echo" && (
            <div class="field key-field">
              <span id="key-label">API key{info?.needsKey ? "" : " (optional: local servers need none)"}</span>
              <p class="key-status" data-testid="key-status">{keyWhere(key)}</p>
              <div class="key-row">
                <input
                  type="password"
                  aria-labelledby="key-label"
                  autocomplete="off"
                  value={typedKey}
                  placeholder={key ? "Paste a new key to replace it" : "Paste the key"}
                  onInput={(e) => setTypedKey(e.currentTarget.value)}
                />
                <button type="button" class="secondary small" disabled={busy || !typedKey.trim()} onClick={() => void saveKey()}>
                  Save key
                </button>
                {key && (
                  <button type="button" class="secondary small" disabled={busy} onClick={() => void removeKey()}>
                    Remove key
                  </button>
                )}
              </div>
              {keyNote && <p role="status" class="muted">{keyNote}</p>}
            </div>
          )}
          {form.provider !== "echo" && (
            <div class="field">
              <span id="model-label">Model</span>
              <div class="key-row">
                {models.length > 0 && !typing ? (
                  <select
                    aria-labelledby="model-label"
                    value={form.model || defaultModel}
                    onChange={(e) => {
                      if (e.currentTarget.value === OTHER) setTyping(true);
                      else update({ model: e.currentTarget.value });
                    }}
                  >
                    {modelChoices.map((m) => (
                      <option key={m} value={m}>{m}</option>
                    ))}
                    <option value={OTHER}>Other (type a name)…</option>
                  </select>
                ) : (
                  <input
                    type="text"
                    aria-labelledby="model-label"
                    value={form.model}
                    placeholder={defaultModel}
                    spellcheck={false}
                    onInput={(e) => update({ model: e.currentTarget.value })}
                  />
                )}
                <button type="button" class="secondary small" disabled={busy} onClick={() => void testConnection()}>
                  Test connection
                </button>
              </div>
              {models.length === 0 && <p class="muted">Type the model's name, or test the connection to list the models.</p>}
              {models.length > 0 && typing && (
                <button type="button" class="ghost small" onClick={() => setTyping(false)}>
                  Choose from the list
                </button>
              )}
              {test && (
                <div class={`connection-test ${test.ok ? "ok" : "failed"}`} role={test.ok ? "status" : "alert"}>
                  <span>{test.message}</span>
                  {test.detail && (
                    <details>
                      <summary>Details</summary>
                      <code>{test.detail}</code>
                    </details>
                  )}
                </div>
              )}
            </div>
          )}
          {error && <p class="settings-error" role="alert">{error}</p>}
          <div class="dialog-actions">
            <button type="button" class="secondary" onClick={() => assistant.closeDialog()}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={busy}>
              Save settings
            </button>
          </div>
        </form>
      )}
      {!form && error && (
        <div role="alert" class="settings-error">
          <span>{error}</span>
          <button type="button" class="secondary small" onClick={() => void reload()}>Try again</button>
        </div>
      )}
      <UpdateSettings updates={updates} />
    </dialog>
  );
}
