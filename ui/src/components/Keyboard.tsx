// The app's own shortcut actions, and the one key listener that runs them all.

import { useEffect } from "preact/hooks";
import { isMac, shortcuts as appShortcuts, type ShortcutRegistry } from "../shortcuts";
import type { Store } from "../store";

/** The chat `step` places after (1) or before (-1) the open one in the list. */
export function adjacentChat(store: Store, step: 1 | -1): string | null {
  const { sessions, activeId } = store.state;
  if (sessions.length === 0) return null;
  const at = sessions.findIndex((s) => s.sessionId === activeId);
  if (at < 0) return step === 1 ? sessions[0].sessionId : null;
  return sessions[at + step]?.sessionId ?? null;
}

/** Listens for shortcuts while the chat screen is up, and registers the store's actions. */
export function useAppShortcuts(store: Store, registry: ShortcutRegistry = appShortcuts, mac = isMac()): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => void registry.handle(e, mac);
    document.addEventListener("keydown", onKey);
    const signedIn = () => store.state.phase === "signed-in" && !store.state.expired;
    const open = (step: 1 | -1) => {
      if (!signedIn()) return false;
      const id = adjacentChat(store, step);
      if (id) void store.openSession(id);
      return id !== null;
    };
    const removals = [
      registry.register("new-chat", () => {
        if (!signedIn()) return false;
        void store.newChat();
        // Already on a new chat: the composer would not refocus by itself.
        requestAnimationFrame(() => registry.run("focus-composer"));
      }),
      registry.register("stop", () => {
        if (!store.replyRunning()) return false;
        void store.stop();
      }),
      registry.register("regenerate", () => {
        const last = store.state.chat?.thread.at(-1);
        if (!signedIn() || last?.role !== "assistant" || !store.canRework()) return false;
        void store.regenerate(last.id);
      }),
      registry.register("previous-chat", () => open(-1)),
      registry.register("next-chat", () => open(1)),
    ];
    return () => {
      document.removeEventListener("keydown", onKey);
      for (const remove of removals) remove();
    };
  }, [store, registry, mac]);
}
