// The conversation open when the app was last used, so it opens again at launch. Only
// its id is kept (localStorage `superset.lastChat`); it is forgotten at sign-out and
// when that chat is gone.

const KEY = "superset.lastChat";

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/** The chat to reopen, if one was open. */
export function lastChat(): string | null {
  return storage()?.getItem(KEY) ?? null;
}

/** Remembers the open chat (`null`: none, a new chat's empty composer). */
export function rememberChat(sessionId: string | null): void {
  const s = storage();
  if (!s) return;
  if (sessionId) s.setItem(KEY, sessionId);
  else s.removeItem(KEY);
}

/** Forgets the remembered chat: all of it, or only if it is `sessionId`. */
export function forgetChat(sessionId?: string): void {
  if (sessionId === undefined || lastChat() === sessionId) storage()?.removeItem(KEY);
}
