import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell, type Scenario } from "../../test/fake-shell";
import { api } from "../ipc";
import { Store } from "../store";
import { App } from "./App";

let store: Store;

async function openDevices(scenario: Scenario = {}) {
  const shell = new FakeShell({ replyMode: "manual", signedIn: true, ...scenario }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  fireEvent.click(await screen.findByRole("button", { name: "Signed-in devices" }));
  const dialog = await screen.findByRole("dialog", { name: "Signed-in devices" });
  return { shell, dialog };
}

function rows(dialog: HTMLElement): string[] {
  return within(dialog)
    .getAllByRole("listitem")
    .map((li) => li.querySelector(".device-name")?.textContent ?? "");
}

afterEach(() => {
  store?.stopAll();
  cleanup();
});

describe("Signed-in devices", () => {
  it("lists the devices newest use first, marks this one, shows IP and last use", async () => {
    const { shell, dialog } = await openDevices();
    await within(dialog).findByRole("list", { name: "Devices" });
    expect(rows(dialog)).toEqual([
      "superset-desktop/0.1.0 (linux)This device",
      "Mozilla/5.0 (iPhone)",
      "superset-cli/0.1.0 (linux; laptop)",
    ]);
    const phone = within(dialog).getAllByRole("listitem")[1];
    expect(phone.textContent).toContain("203.0.113.7");
    expect(phone.textContent).toContain("Last used 1 hour ago");
    // No sign-out button on this device's own row.
    expect(within(within(dialog).getAllByRole("listitem")[0]).queryByRole("button")).toBeNull();
    expect(shell.callsOf("list_devices")).toHaveLength(1);
  });

  it("shows a loading state until the list comes", async () => {
    new FakeShell({ signedIn: true }).install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: "Signed-in devices" }));
    expect(screen.getByText("Loading devices…")).toBeTruthy();
    await screen.findByRole("list", { name: "Devices" });
    expect(screen.queryByText("Loading devices…")).toBeNull();
  });

  it("signs out one device after confirming, and cancel keeps it", async () => {
    const { shell, dialog } = await openDevices();
    await within(dialog).findByRole("list", { name: "Devices" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Sign out Mozilla/5.0 (iPhone)" }));
    fireEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(shell.callsOf("revoke_device")).toHaveLength(0);

    fireEvent.click(within(dialog).getByRole("button", { name: "Sign out Mozilla/5.0 (iPhone)" }));
    const confirm = within(dialog).getByRole("group", { name: "Confirm signing out Mozilla/5.0 (iPhone)" });
    fireEvent.click(within(confirm).getByRole("button", { name: "Confirm sign out" }));
    await within(dialog).findByText("Signed out Mozilla/5.0 (iPhone).");
    expect(shell.callsOf("revoke_device")).toEqual([{ cmd: "revoke_device", args: { deviceId: "device-phone" } }]);
    await waitFor(() => expect(rows(dialog)).toHaveLength(2));
    expect(store.state.phase).toBe("signed-in");
  });

  it("signs out everywhere else after confirming", async () => {
    const { shell, dialog } = await openDevices();
    await within(dialog).findByRole("list", { name: "Devices" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Sign out everywhere else" }));
    const confirm = within(dialog).getByRole("group", { name: "Confirm signing out everywhere else" });
    expect(confirm.textContent).toContain("Sign out 2 other devices?");
    fireEvent.click(within(confirm).getByRole("button", { name: "Sign out everywhere else" }));
    await within(dialog).findByText("Signed out 2 other devices.");
    await waitFor(() => expect(rows(dialog)).toEqual(["superset-desktop/0.1.0 (linux)This device"]));
    expect(shell.callsOf("revoke_other_devices")).toHaveLength(1);
    expect((within(dialog).getByRole("button", { name: "Sign out everywhere else" }) as HTMLButtonElement).disabled).toBe(true);
  });

  it("Escape backs out of a confirmation first, then closes", async () => {
    const { shell, dialog } = await openDevices();
    await within(dialog).findByRole("list", { name: "Devices" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Sign out everywhere else" }));
    within(dialog).getByRole("group", { name: "Confirm signing out everywhere else" });
    // A browser fires `cancel` on Escape; jsdom does not, so the test does.
    const escape = new Event("cancel", { cancelable: true });
    dialog.dispatchEvent(escape);
    expect(escape.defaultPrevented).toBe(true);
    await waitFor(() => expect(within(dialog).queryByRole("group")).toBeNull());
    expect(shell.callsOf("revoke_other_devices")).toHaveLength(0);
    fireEvent.click(within(dialog).getByRole("button", { name: "Close" }));
    await waitFor(() => expect(dialog.hasAttribute("open")).toBe(false));
  });

  it("shows a failed list inline with what to do, and Try again loads it", async () => {
    const shell = new FakeShell({ signedIn: true }).install();
    shell.failNext("list_devices", { kind: "network", message: "Can't reach the server.", detail: "connection refused" });
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: "Signed-in devices" }));
    const dialog = await screen.findByRole("dialog", { name: "Signed-in devices" });
    const alert = await within(dialog).findByRole("alert");
    expect(alert.textContent).toContain("Can't reach the server. Check your connection, then try again.");
    fireEvent.click(within(alert).getByRole("button", { name: "Try again" }));
    await within(dialog).findByRole("list", { name: "Devices" });
    expect(within(dialog).queryByRole("alert")).toBeNull();
  });

  it("a failed revoke keeps the row and says so", async () => {
    const { shell, dialog } = await openDevices();
    await within(dialog).findByRole("list", { name: "Devices" });
    shell.failWithStatus("revoke_device", 500);
    fireEvent.click(within(dialog).getByRole("button", { name: "Sign out superset-cli/0.1.0 (linux; laptop)" }));
    fireEvent.click(within(dialog).getByRole("button", { name: "Confirm sign out" }));
    const alert = await within(dialog).findByRole("alert");
    expect(alert.textContent).toContain("The server ran into a problem. Try again in a moment.");
    expect(rows(dialog)).toHaveLength(3);
  });

  it("revoking this device signs out cleanly, without the expired prompt", async () => {
    const { shell } = await openDevices();
    const revoked = await store.revokeDevice("device-here");
    expect(revoked).toEqual({ revoked: true, signedOut: true });
    await waitFor(() => expect(store.state.phase).toBe("signed-out"));
    expect(store.state.expired).toBe(false);
    expect(shell.signedIn).toBe(false);
  });
});
