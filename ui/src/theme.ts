// Light, dark, or whatever the system prefers; remembered on this device.

export type ThemeChoice = "system" | "light" | "dark";

const KEY = "superset.theme";
const ORDER: ThemeChoice[] = ["system", "light", "dark"];

export function loadTheme(): ThemeChoice {
  try {
    const stored = localStorage.getItem(KEY);
    return ORDER.includes(stored as ThemeChoice) ? (stored as ThemeChoice) : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === "system") delete root.dataset.theme;
  else root.dataset.theme = choice;
  try {
    localStorage.setItem(KEY, choice);
  } catch {
    // Storage may be unavailable; the choice still holds for this window.
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return ORDER[(ORDER.indexOf(choice) + 1) % ORDER.length];
}
