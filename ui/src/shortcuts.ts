// Keyboard shortcuts: one table of what each key does, a registry features plug their
// actions into (new chat, stop and the like from the app; regenerate, search and
// settings from the views that own them), and the words the help overlay shows, with
// the platform's own modifier (⌘ on macOS, Ctrl elsewhere).
//
// A feature either registers its action (`shortcuts.register("settings", open)`) or
// marks the element to use with `data-shortcut="<id>"`: a text field is focused, any
// other element clicked. A shortcut with neither does nothing and is not listed.

export type ShortcutId =
  | "new-chat"
  | "search"
  | "focus-composer"
  | "stop"
  | "regenerate"
  | "previous-chat"
  | "next-chat"
  | "settings"
  | "help";

export interface Shortcut {
  id: ShortcutId;
  /** What it does, as the help overlay lists it. */
  label: string;
  /** `KeyboardEvent.key`, compared without case. */
  key: string;
  /** Ctrl, or ⌘ on macOS. */
  mod?: boolean;
  shift?: boolean;
  alt?: boolean;
  /** Also while typing in a text field (a bare "?" must stay a question mark there). */
  inFields: boolean;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { id: "new-chat", label: "New chat", key: "o", mod: true, shift: true, inFields: true },
  { id: "search", label: "Search chats", key: "k", mod: true, inFields: true },
  { id: "focus-composer", label: "Write a message", key: "Escape", shift: true, inFields: true },
  { id: "stop", label: "Stop the reply", key: "Escape", inFields: true },
  { id: "regenerate", label: "Regenerate the last reply", key: "r", mod: true, shift: true, inFields: true },
  { id: "previous-chat", label: "Previous chat", key: "ArrowUp", alt: true, inFields: true },
  { id: "next-chat", label: "Next chat", key: "ArrowDown", alt: true, inFields: true },
  { id: "settings", label: "Settings", key: ",", mod: true, inFields: true },
  { id: "help", label: "Keyboard shortcuts", key: "/", mod: true, inFields: true },
];

/** `?` opens the help too, outside text fields. */
const HELP_KEY = "?";

/** Whether this is a Mac, from the webview's own report (userAgentData, else platform). */
export function isMac(nav: Pick<Navigator, "platform" | "userAgent"> & { userAgentData?: { platform?: string } } =
  navigator): boolean {
  const platform = nav.userAgentData?.platform || nav.platform || nav.userAgent || "";
  return /mac|iphone|ipad/i.test(platform);
}

const KEY_NAMES: Record<string, [mac: string, other: string]> = {
  Escape: ["Esc", "Esc"],
  ArrowUp: ["↑", "Up"],
  ArrowDown: ["↓", "Down"],
};

/** The keys to press, in the platform's words: ["⌘", "⇧", "O"] or ["Ctrl", "Shift", "O"]. */
export function keysOf(shortcut: Shortcut, mac: boolean): string[] {
  const keys: string[] = [];
  if (shortcut.mod) keys.push(mac ? "⌘" : "Ctrl");
  if (shortcut.alt) keys.push(mac ? "⌥" : "Alt");
  if (shortcut.shift) keys.push(mac ? "⇧" : "Shift");
  const named = KEY_NAMES[shortcut.key];
  keys.push(named ? named[mac ? 0 : 1] : shortcut.key.length === 1 ? shortcut.key.toUpperCase() : shortcut.key);
  return keys;
}

/** How the keys read in a tooltip: "⌘⇧O" on a Mac, "Ctrl+Shift+O" elsewhere. */
export function describeKeys(shortcut: Shortcut, mac: boolean): string {
  return keysOf(shortcut, mac).join(mac ? "" : "+");
}

/** A shortcut's keys on this platform, for a tooltip: "Ctrl+Shift+O". */
export function shortcutKeys(id: ShortcutId, mac = isMac()): string {
  const shortcut = SHORTCUTS.find((s) => s.id === id);
  return shortcut ? describeKeys(shortcut, mac) : "";
}

function typingIn(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== "string") return false;
  const tag = el.tagName.toLowerCase();
  return tag === "textarea" || tag === "select" || el.isContentEditable || (tag === "input" &&
    !["button", "checkbox", "radio", "submit", "reset", "range", "color"].includes((el as HTMLInputElement).type));
}

/** The shortcut a key press means, if any. */
export function match(e: KeyboardEvent, mac: boolean): Shortcut | null {
  if (e.isComposing) return null;
  const inField = typingIn(e.target);
  if (e.key === HELP_KEY && !e.ctrlKey && !e.metaKey && !e.altKey && !inField) {
    return SHORTCUTS.find((s) => s.id === "help") ?? null;
  }
  const mod = mac ? e.metaKey : e.ctrlKey;
  const otherMod = mac ? e.ctrlKey : e.metaKey;
  for (const s of SHORTCUTS) {
    if (e.key.toLowerCase() !== s.key.toLowerCase() || otherMod) continue;
    if (mod !== Boolean(s.mod) || e.altKey !== Boolean(s.alt) || e.shiftKey !== Boolean(s.shift)) continue;
    if (inField && !s.inFields) continue;
    return s;
  }
  return null;
}

/** The element a feature marked for a shortcut. */
function markedElement(id: ShortcutId, root: ParentNode): HTMLElement | null {
  return root.querySelector<HTMLElement>(`[data-shortcut="${id}"]`);
}

/** Where features plug their shortcut actions in. */
export class ShortcutRegistry {
  private actions = new Map<ShortcutId, Array<() => boolean | void>>();

  constructor(private readonly root: () => ParentNode = () => document) {}

  /**
   * Adds the action for a shortcut (the latest registered wins); returns its removal.
   * An action that returns `false` had nothing to do: the key press is left alone.
   */
  register(id: ShortcutId, action: () => boolean | void): () => void {
    const list = this.actions.get(id) ?? [];
    list.push(action);
    this.actions.set(id, list);
    return () => {
      const current = this.actions.get(id) ?? [];
      this.actions.set(id, current.filter((a) => a !== action));
    };
  }

  /** Whether pressing the shortcut would do anything now. */
  available(id: ShortcutId): boolean {
    return (this.actions.get(id)?.length ?? 0) > 0 || markedElement(id, this.root()) !== null;
  }

  /** Runs the shortcut's action, else uses the element marked for it. False: nothing to do. */
  run(id: ShortcutId): boolean {
    const list = this.actions.get(id);
    if (list?.length) return list[list.length - 1]() !== false;
    const el = markedElement(id, this.root());
    if (!el) return false;
    if (typingIn(el)) el.focus();
    else el.click();
    return true;
  }

  /** Handles a key press: true when it was a shortcut that did something. */
  handle(e: KeyboardEvent, mac: boolean): boolean {
    const shortcut = match(e, mac);
    if (!shortcut) return false;
    // Nothing acts behind a modal dialog (a sign-in prompt, a confirmation); in the
    // help overlay, its own shortcut closes it (and Esc, as in any dialog).
    const dialog = this.root().querySelector("dialog[open]");
    if (dialog && !(dialog.classList.contains("shortcut-help") && shortcut.id === "help")) return false;
    if (!this.run(shortcut.id)) return false;
    e.preventDefault();
    e.stopPropagation();
    return true;
  }
}

/** The app's one registry. */
export const shortcuts = new ShortcutRegistry();
