// A newer release, offered in a banner ("Install and restart" or "Later") with its notes
// and the download's progress; and the update settings: the running version, how often
// to check, and "Check now". A failed check stays in Settings: it never interrupts.

import { useMemo } from "preact/hooks";
import { renderMarkdown } from "../markdown";
import type { Store } from "../store";
import type { UpdateSchedule, UpdateStatus } from "../ipc";
import { progressText, type Updates } from "../updates";
import { useObserved } from "./hooks";

export function UpdateBanner({ store }: { store: Store }) {
  const updates = store.updates;
  const { status } = useObserved(updates);
  if (!status || !updates.bannerShown()) return null;
  const { phase } = status;
  const version = status.available?.version ?? "";
  if (phase.phase === "downloading" || phase.phase === "installing") {
    const percent = phase.phase === "downloading" && phase.total ? Math.min(100, (100 * phase.received) / phase.total) : null;
    return (
      <div class="banner banner-update" role="status" data-testid="update-banner">
        <span class="banner-text">
          {phase.phase === "downloading" ? (
            <>
              <strong>Downloading version {version}…</strong> {progressText(phase.received, phase.total)}
            </>
          ) : (
            <strong>Installing version {version}… The app restarts when it's done.</strong>
          )}
        </span>
        <progress max={100} value={percent ?? undefined} aria-label="Update progress" />
      </div>
    );
  }
  return (
    <div class="banner banner-update" role="status" data-testid="update-banner">
      <span class="banner-text">
        {phase.phase === "install_failed" ? (
          <strong>{phase.message}</strong>
        ) : (
          <>
            <strong>Version {version} is available.</strong> You have {status.current}.
          </>
        )}
        {status.available?.notes && <Notes store={store} text={status.available.notes} />}
      </span>
      <span class="banner-actions">
        <button type="button" class="secondary small" onClick={() => updates.later()}>
          Later
        </button>
        {status.available && (
          <button type="button" class="primary small" onClick={() => void updates.install()}>
            {phase.phase === "install_failed" ? "Try again" : "Install and restart"}
          </button>
        )}
      </span>
    </div>
  );
}

/** The release notes (Markdown, sanitized as replies are), behind "What's new". */
function Notes({ store, text }: { store: Store; text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  const onClick = (e: MouseEvent) => {
    const link = (e.target as HTMLElement).closest("a");
    if (!link) return;
    e.preventDefault();
    const href = link.getAttribute("href");
    if (href) void store.openLink(href);
  };
  return (
    <details class="update-notes">
      <summary>What's new</summary>
      <div class="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />
    </details>
  );
}

const SCHEDULES: Array<{ value: UpdateSchedule; label: string }> = [
  { value: "daily", label: "Every day" },
  { value: "weekly", label: "Every week" },
  { value: "never", label: "Never (check by hand)" },
];

/** Settings' part on updates. */
export function UpdateSettings({ updates }: { updates: Updates }) {
  const { status } = useObserved(updates);
  if (!status) return null;
  return (
    <section class="update-settings" aria-labelledby="update-settings-title">
      <h3 id="update-settings-title">Updates</h3>
      <p>
        Superset <span data-testid="app-version">{status.current}</span>
      </p>
      {status.feed ? (
        <>
          <label class="field">
            <span>Check for updates</span>
            <select
              value={status.schedule}
              onChange={(e) => void updates.setSchedule(e.currentTarget.value as UpdateSchedule)}
            >
              {SCHEDULES.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
          </label>
          <div class="update-check">
            <button
              type="button"
              class="secondary small"
              disabled={status.phase.phase === "checking"}
              onClick={() => void updates.check()}
            >
              Check now
            </button>
            <span class="muted" aria-live="polite">
              {checkText(status)}
            </span>
          </div>
        </>
      ) : (
        <p class="muted">This build has no release feed (a development build): released builds update themselves.</p>
      )}
    </section>
  );
}

/** Where the last check left things, in words. */
function checkText(status: UpdateStatus): string {
  const { phase } = status;
  if (phase.phase === "checking") return "Checking…";
  if (phase.phase === "check_failed") return phase.message;
  if (status.available) return `Version ${status.available.version} is available.`;
  if (status.checkedAt) {
    const at = new Date(status.checkedAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return `You're up to date (checked at ${at}).`;
  }
  return "";
}
