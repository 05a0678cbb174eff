// The frame around the chats: top bar (who is signed in, theme, devices, sign out) and
// banners.

import { useState } from "preact/hooks";
import type { User } from "../ipc";
import type { Banner, Store } from "../store";
import { shortcutKeys, shortcuts } from "../shortcuts";
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from "../theme";
import { Details, RetryCountdown } from "./Details";
import { DevicesDialog } from "./Devices";
import { SettingsDialog } from "./Settings";
import { LogoIcon, MonitorIcon, MoonIcon, SunIcon } from "./icons";

const THEME_LABEL: Record<ThemeChoice, string> = { system: "System", light: "Light", dark: "Dark" };

export function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(loadTheme);
  const next = nextTheme(choice);
  const Icon = choice === "light" ? SunIcon : choice === "dark" ? MoonIcon : MonitorIcon;
  return (
    <button
      type="button"
      class="ghost theme-toggle"
      aria-label={`Theme: ${THEME_LABEL[choice]}. Switch to ${THEME_LABEL[next]}`}
      title={`Theme: ${THEME_LABEL[choice]}`}
      onClick={() => {
        applyTheme(next);
        setChoice(next);
      }}
    >
      <Icon />
      <span class="theme-label">{THEME_LABEL[choice]}</span>
    </button>
  );
}

function initials(user: User): string {
  const source = (user.name || user.email || "?").trim();
  const parts = source.split(/[\s@.]+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[1][0] : "")).toUpperCase();
}

export function TopBar({ store, user }: { store: Store; user: User | null }) {
  const [devicesOpen, setDevicesOpen] = useState(false);
  return (
    <header class="topbar">
      <div class="brand">
        <LogoIcon />
        <span>Superset</span>
      </div>
      <div class="topbar-actions">
        <ThemeToggle />
        {user && (
          <div class="who" aria-label="Signed in account">
            {/* The profile picture is a remote URL: never loaded, initials instead. */}
            <span class="avatar" aria-hidden="true">{initials(user)}</span>
            <span class="who-text">
              <span class="who-name">{user.name || user.email}</span>
              {user.name && user.email && <span class="who-email">{user.email}</span>}
            </span>
          </div>
        )}
        <button
          type="button"
          class="ghost"
          aria-haspopup="dialog"
          data-shortcut="settings"
          title={`Settings (${shortcutKeys("settings")})`}
          onClick={() => store.assistant.openDialog()}
        >
          Settings
        </button>
        <button
          type="button"
          class="ghost shortcut-button"
          aria-haspopup="dialog"
          aria-label="Keyboard shortcuts"
          title={`Keyboard shortcuts (${shortcutKeys("help")} or ?)`}
          onClick={() => shortcuts.run("help")}
        >
          ?
        </button>
        <button type="button" class="ghost" aria-haspopup="dialog" onClick={() => setDevicesOpen(true)}>
          Signed-in devices
        </button>
        <button type="button" class="secondary" onClick={() => void store.signOut()}>
          Sign out
        </button>
      </div>
      <DevicesDialog store={store} open={devicesOpen} close={() => setDevicesOpen(false)} />
      <SettingsDialog assistant={store.assistant} updates={store.updates} />
    </header>
  );
}

/** What the banner says when the shell gave no words (it always should). */
const BANNER_TEXT = {
  offline: "Can't reach the server.",
  server: "The server ran into a problem.",
};

/** A connection problem: what happened, when the next try is, the detail behind "Details". */
export function ConnectionBanner({ store, banner }: { store: Store; banner: Banner | null }) {
  if (!banner) return null;
  return (
    <div class={`banner banner-${banner.kind}`} role="alert" data-testid="banner">
      <span class="banner-text">
        <strong>{banner.message || BANNER_TEXT[banner.kind]}</strong>{" "}
        <RetryCountdown at={banner.retryAt} retrying={banner.retrying} />
        <Details detail={banner.detail} />
      </span>
      <button type="button" class="secondary small" onClick={() => void store.retry()}>
        Retry now
      </button>
    </div>
  );
}

export function Notice({ store, text, detail }: { store: Store; text: string | null; detail?: string | null }) {
  if (!text) return null;
  return (
    <div class="notice" role="status">
      <span>
        {text}
        <Details detail={detail} />
      </span>
      <button type="button" class="ghost small" aria-label="Dismiss message" onClick={() => store.dismissNotice()}>
        ✕
      </button>
    </div>
  );
}
