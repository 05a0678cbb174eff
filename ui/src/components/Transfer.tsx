// Export the open chat (Markdown or JSON) and import a JSON export as a new chat.
// The shell shows the system's dialogs.

import { exportChat, importChat } from "../search";
import type { Store } from "../store";

export function ExportMenu({ store, sessionId }: { store: Store; sessionId: string }) {
  return (
    <details class="export-menu">
      <summary class="secondary" aria-label="Export this conversation">Export</summary>
      <div class="export-choices">
        <button
          type="button"
          onClick={(e) => {
            e.currentTarget.closest("details")?.removeAttribute("open");
            void exportChat(store, sessionId, "markdown");
          }}
        >
          As Markdown…
        </button>
        <button
          type="button"
          onClick={(e) => {
            e.currentTarget.closest("details")?.removeAttribute("open");
            void exportChat(store, sessionId, "json");
          }}
        >
          As JSON (to import)…
        </button>
      </div>
    </details>
  );
}

export function ImportButton({ store }: { store: Store }) {
  return (
    <button type="button" class="secondary import-chat" onClick={() => void importChat(store)}>
      Import chat…
    </button>
  );
}
