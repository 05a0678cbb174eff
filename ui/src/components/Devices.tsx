// "Signed-in devices": where the account is signed in, signing one out, or all but
// this one. Each sign-out asks first, inside the dialog.

import { useEffect, useRef, useState } from "preact/hooks";
import type { CommandError, Device } from "../ipc";
import { isCommandError } from "../ipc";
import type { Store } from "../store";
import { Details } from "./Details";
import { ago } from "./Sidebar";

type Confirm = { kind: "one"; device: Device } | { kind: "others"; count: number } | null;

/** What went wrong, and what to do about it. */
export function deviceError(error: CommandError): string {
  switch (error.kind) {
    case "network":
      return "Can't reach the server. Check your connection, then try again.";
    case "auth_required":
      return "Your session has ended. Sign in again to manage your devices.";
    case "server":
      return "The server ran into a problem. Try again in a moment.";
    default:
      return error.message;
  }
}

function toError(error: unknown): CommandError {
  return isCommandError(error)
    ? error
    : { kind: "invalid", message: "Something went wrong in the app.", detail: String(error) };
}

export function deviceName(device: Device): string {
  return device.client?.trim() || "Unknown device";
}

/** Most recently used first, as the server sends them; sorted again to be sure. */
function byUse(a: Device, b: Device): number {
  return Date.parse(b.lastUsedAt) - Date.parse(a.lastUsedAt);
}

export function DevicesDialog({ store, open, close }: { store: Store; open: boolean; close: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [devices, setDevices] = useState<Device[] | null>(null);
  const [error, setError] = useState<CommandError | null>(null);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);

  const load = async () => {
    setDevices(null);
    setError(null);
    try {
      setDevices([...(await store.listDevices())].sort(byUse));
    } catch (e) {
      setError(toError(e));
    }
  };

  useEffect(() => {
    const dialog = ref.current;
    if (open && dialog && !dialog.open) {
      setConfirm(null);
      setDone(null);
      dialog.showModal();
      void load();
    }
    if (!open && dialog?.open) dialog.close();
  }, [open]);

  const run = async (action: () => Promise<string | null>) => {
    setBusy(true);
    setError(null);
    try {
      const message = await action();
      setConfirm(null);
      setDone(message);
      if (message !== null) await load();
    } catch (e) {
      setError(toError(e));
    } finally {
      setBusy(false);
    }
  };

  const revokeOne = (device: Device) =>
    run(async () => {
      const revoked = await store.revokeDevice(device.id);
      if (revoked.signedOut) {
        close();
        return null;
      }
      return revoked.revoked ? `Signed out ${deviceName(device)}.` : `${deviceName(device)} was already signed out.`;
    });

  const revokeOthers = () =>
    run(async () => {
      const count = await store.revokeOtherDevices();
      return `Signed out ${count} other ${count === 1 ? "device" : "devices"}.`;
    });

  const others = devices?.filter((d) => !d.current).length ?? 0;

  return (
    <dialog
      ref={ref}
      class="dialog devices-dialog"
      aria-labelledby="devices-title"
      onClose={close}
      onCancel={(e) => {
        // Escape backs out of a confirmation first, then closes.
        if (confirm && !busy) {
          e.preventDefault();
          setConfirm(null);
        }
      }}
    >
      <h2 id="devices-title">Signed-in devices</h2>
      <p class="muted">Where your account is signed in. Signing a device out ends its session at once.</p>
      {devices === null && !error && (
        <p role="status" aria-busy="true" class="muted">
          Loading devices…
        </p>
      )}
      {error && (
        <div class="devices-error" role="alert">
          <span>
            {deviceError(error)}
            <Details detail={error.detail} />
          </span>
          {error.kind !== "auth_required" && (
            <button type="button" class="secondary small" disabled={busy} onClick={() => void load()}>
              Try again
            </button>
          )}
        </div>
      )}
      {done && (
        <p role="status" class="devices-done">
          {done}
        </p>
      )}
      {devices && (
        <ul class="device-list" aria-label="Devices">
          {devices.map((device) => (
            <li key={device.id} class={`device-item${device.current ? " current" : ""}`}>
              <span class="device-text">
                <span class="device-name">
                  {deviceName(device)}
                  {device.current && <span class="chip device-here">This device</span>}
                </span>
                <span class="device-meta">
                  {device.ip ? `${device.ip} · ` : ""}Last used {ago(device.lastUsedAt)}
                </span>
              </span>
              {!device.current &&
                (confirm?.kind === "one" && confirm.device.id === device.id ? (
                  <span class="device-confirm" role="group" aria-label={`Confirm signing out ${deviceName(device)}`}>
                    <button type="button" class="secondary small" disabled={busy} onClick={() => setConfirm(null)}>
                      Cancel
                    </button>
                    <button type="button" class="danger-button small" disabled={busy} autofocus onClick={() => void revokeOne(device)}>
                      Confirm sign out
                    </button>
                  </span>
                ) : (
                  <button
                    type="button"
                    class="secondary small"
                    aria-label={`Sign out ${deviceName(device)}`}
                    disabled={busy}
                    onClick={() => setConfirm({ kind: "one", device })}
                  >
                    Sign out
                  </button>
                ))}
            </li>
          ))}
        </ul>
      )}
      {confirm?.kind === "others" ? (
        <div class="devices-confirm" role="group" aria-label="Confirm signing out everywhere else">
          <p>
            Sign out {confirm.count} other {confirm.count === 1 ? "device" : "devices"}? They will have to sign in again.
          </p>
          <div class="dialog-actions">
            <button type="button" class="secondary" disabled={busy} onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button type="button" class="danger-button" disabled={busy} autofocus onClick={() => void revokeOthers()}>
              Sign out everywhere else
            </button>
          </div>
        </div>
      ) : (
        <div class="dialog-actions">
          <button
            type="button"
            class="secondary"
            disabled={busy || others === 0}
            onClick={() => setConfirm({ kind: "others", count: others })}
          >
            Sign out everywhere else
          </button>
          <button type="button" class="primary" onClick={close}>
            Close
          </button>
        </div>
      )}
    </dialog>
  );
}
