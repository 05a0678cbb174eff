// Finding words across every chat, and taking chats out and in: the shell keeps the
// index and shows the save/open dialogs; the UI asks and shows where it went.

import { api, isCommandError, type SearchHit } from "./ipc";
import type { Store } from "./store";
import { bringIntoPage } from "./virtual";

/** Results asked of the shell per query: enough to scan, few enough to read. */
export const RESULT_LIMIT = 30;
/** Typing pause before a query goes out. */
export const DEBOUNCE_MS = 120;
/** How long a found message stays highlighted. */
const HIGHLIGHT_MS = 2500;

export function findInChats(query: string): Promise<SearchHit[]> {
  return query.trim() ? api.search(query, RESULT_LIMIT) : Promise.resolve([]);
}

function failure(what: string, error: unknown): string {
  const message = isCommandError(error) ? error.message : String(error);
  return `${what}: ${message}`;
}

/** Opens a result: the chat, scrolled to the message, which is highlighted a moment. */
export async function openHit(store: Store, hit: SearchHit): Promise<void> {
  await store.openSession(hit.chatId);
  if (hit.messageId) await revealMessage(hit.messageId);
}

/** Waits (up to a few seconds) for the message to be shown, then scrolls to it. */
export function revealMessage(messageId: string, timeoutMs = 4000): Promise<boolean> {
  const find = () =>
    [...document.querySelectorAll<HTMLElement>("[data-message-id]")].find((e) => e.dataset.messageId === messageId);
  const started = Date.now();
  return new Promise((resolve) => {
    const attempt = () => {
      const element = find();
      // Only the messages near the view are in the page: scroll the list to this one.
      if (!element) bringIntoPage(messageId);
      if (element) {
        element.scrollIntoView?.({ block: "center" });
        element.classList.add("search-match");
        setTimeout(() => element.classList.remove("search-match"), HIGHLIGHT_MS);
        resolve(true);
      } else if (Date.now() - started > timeoutMs) resolve(false);
      else setTimeout(attempt, 30);
    };
    attempt();
  });
}

export async function exportChat(store: Store, sessionId: string, format: "markdown" | "json"): Promise<void> {
  try {
    const path = await api.exportChat(sessionId, format);
    if (path) store.notify(`Saved the conversation to ${path}.`);
  } catch (error) {
    store.notify(failure("The conversation was not exported", error));
  }
}

export async function importChat(store: Store): Promise<void> {
  try {
    const meta = await api.importChat();
    if (meta) await store.adopt(meta);
  } catch (error) {
    store.notify(failure("Nothing was imported", error));
  }
}
