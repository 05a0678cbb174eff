import { afterEach, describe, expect, it } from "vitest";
import { SHORTCUTS, ShortcutRegistry, describeKeys, isMac, keysOf, match } from "./shortcuts";

function key(init: KeyboardEventInit, target: Element = document.body): KeyboardEvent {
  const e = new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init });
  Object.defineProperty(e, "target", { value: target });
  return e;
}

const byId = (id: string) => SHORTCUTS.find((s) => s.id === id)!;

afterEach(() => {
  document.body.innerHTML = "";
});

describe("platform", () => {
  it("tells a Mac from userAgentData first, then navigator.platform", () => {
    expect(isMac({ platform: "", userAgent: "", userAgentData: { platform: "macOS" } })).toBe(true);
    expect(isMac({ platform: "MacIntel", userAgent: "" })).toBe(true);
    expect(isMac({ platform: "Linux x86_64", userAgent: "Mozilla/5.0 (X11; Linux x86_64)" })).toBe(false);
    expect(isMac({ platform: "", userAgent: "", userAgentData: { platform: "Windows" } })).toBe(false);
  });

  it("names the keys with ⌘ on a Mac and Ctrl elsewhere", () => {
    expect(keysOf(byId("new-chat"), true)).toEqual(["⌘", "⇧", "O"]);
    expect(keysOf(byId("new-chat"), false)).toEqual(["Ctrl", "Shift", "O"]);
    expect(describeKeys(byId("help"), true)).toBe("⌘/");
    expect(describeKeys(byId("help"), false)).toBe("Ctrl+/");
    expect(describeKeys(byId("previous-chat"), false)).toBe("Alt+Up");
    expect(describeKeys(byId("focus-composer"), true)).toBe("⇧Esc");
  });
});

describe("match", () => {
  it("takes the platform's modifier and not the other one", () => {
    expect(match(key({ key: "k", metaKey: true }), true)?.id).toBe("search");
    expect(match(key({ key: "k", ctrlKey: true }), true)).toBeNull();
    expect(match(key({ key: "k", ctrlKey: true }), false)?.id).toBe("search");
    expect(match(key({ key: "k", metaKey: true }), false)).toBeNull();
    expect(match(key({ key: "O", ctrlKey: true, shiftKey: true }), false)?.id).toBe("new-chat");
    expect(match(key({ key: "o", ctrlKey: true }), false)).toBeNull();
  });

  it("opens the help with ? outside text fields only, and with Ctrl+/ anywhere", () => {
    const box = document.createElement("textarea");
    document.body.append(box);
    expect(match(key({ key: "?", shiftKey: true }), false)?.id).toBe("help");
    expect(match(key({ key: "?", shiftKey: true }, box), false)).toBeNull();
    expect(match(key({ key: "/", ctrlKey: true }, box), false)?.id).toBe("help");
  });

  it("leaves a key press alone while an input method is composing", () => {
    expect(match(key({ key: "k", ctrlKey: true, isComposing: true }), false)).toBeNull();
  });
});

describe("ShortcutRegistry", () => {
  it("runs the latest registered action, and forgets a removed one", () => {
    const registry = new ShortcutRegistry();
    const ran: string[] = [];
    const first = registry.register("regenerate", () => void ran.push("first"));
    const second = registry.register("regenerate", () => void ran.push("second"));
    expect(registry.run("regenerate")).toBe(true);
    second();
    expect(registry.run("regenerate")).toBe(true);
    first();
    expect(registry.run("regenerate")).toBe(false);
    expect(ran).toEqual(["second", "first"]);
  });

  it("falls back to the element marked data-shortcut: focuses a field, clicks a button", () => {
    const registry = new ShortcutRegistry();
    document.body.innerHTML = `<input data-shortcut="search"><button data-shortcut="settings">Settings</button>`;
    let clicked = 0;
    document.querySelector("button")!.addEventListener("click", () => clicked++);
    expect(registry.available("search")).toBe(true);
    expect(registry.available("regenerate")).toBe(false);
    expect(registry.handle(key({ key: "k", ctrlKey: true }), false)).toBe(true);
    expect(document.activeElement).toBe(document.querySelector("input"));
    const press = key({ key: ",", ctrlKey: true });
    expect(registry.handle(press, false)).toBe(true);
    expect(press.defaultPrevented).toBe(true);
    expect(clicked).toBe(1);
  });

  it("lets a key through when the action had nothing to do, or a dialog is open", () => {
    const registry = new ShortcutRegistry();
    registry.register("stop", () => false);
    const escape = key({ key: "Escape" });
    expect(registry.handle(escape, false)).toBe(false);
    expect(escape.defaultPrevented).toBe(false);
    let opened = 0;
    registry.register("new-chat", () => void opened++);
    const dialog = document.createElement("dialog");
    dialog.setAttribute("open", "");
    document.body.append(dialog);
    expect(registry.handle(key({ key: "o", ctrlKey: true, shiftKey: true }), false)).toBe(false);
    expect(opened).toBe(0);
  });
});
