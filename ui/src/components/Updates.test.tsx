import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it } from "vitest";
import { FakeShell } from "../../test/fake-shell";
import { api } from "../ipc";
import { Store } from "../store";
import { progressText } from "../updates";
import { App } from "./App";

let store: Store;

async function start(signedIn = true) {
  const shell = new FakeShell({ signedIn }).install();
  store = new Store(api);
  render(<App store={store} />);
  await store.start();
  return shell;
}

afterEach(async () => {
  await new Promise((done) => setTimeout(done, 20));
  store?.stopAll();
  cleanup();
});

describe("Updates", () => {
  it("offers a newer release with its notes: Later puts it off, Install shows progress and restarts", async () => {
    const shell = await start();
    expect(screen.queryByTestId("update-banner")).toBeNull();
    shell.offerUpdate("0.2.0", "- Faster search\n- [Changelog](https://example.com/changes)");
    const banner = await screen.findByTestId("update-banner");
    expect(banner.textContent).toContain("Version 0.2.0 is available.");
    expect(banner.textContent).toContain("You have 0.1.0.");
    fireEvent.click(within(banner).getByText("What's new"));
    fireEvent.click(within(banner).getByRole("link", { name: "Changelog" }));
    expect(shell.opened).toEqual(["https://example.com/changes"]);

    fireEvent.click(within(banner).getByRole("button", { name: "Later" }));
    await waitFor(() => expect(screen.queryByTestId("update-banner")).toBeNull());

    // A later check finds the same version: still put off until the app starts again.
    await store.updates.check();
    expect(screen.queryByTestId("update-banner")).toBeNull();
    store.updates.state.later = null;
    await store.updates.check();
    fireEvent.click(within(await screen.findByTestId("update-banner")).getByRole("button", { name: "Install and restart" }));
    await waitFor(() => expect(screen.getByTestId("update-banner").textContent).toContain("Downloading version 0.2.0…"));
    await waitFor(() => expect(shell.restartedInto).toBe("0.2.0"));
    expect(screen.getByTestId("update-banner").textContent).toContain("Installing version 0.2.0…");
  });

  it("a failed download says why, keeps the running version and offers to try again", async () => {
    const shell = await start(false);
    shell.installFailure = { message: "Couldn't download version 0.2.0. Check your connection and try again.", refused: false };
    shell.offerUpdate("0.2.0");
    const banner = await screen.findByTestId("update-banner");
    fireEvent.click(within(banner).getByRole("button", { name: "Install and restart" }));
    await waitFor(() => expect(banner.textContent).toContain("Couldn't download version 0.2.0."));
    expect(shell.restartedInto).toBeNull();
    fireEvent.click(within(banner).getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(shell.restartedInto).toBe("0.2.0"));
  });

  it("a download refused for its signature is not offered again, and Later puts the notice away", async () => {
    const shell = await start();
    const refused = "The download of version 0.2.0 isn't signed by Superset's release key, so it was not installed. You're still on 0.1.0.";
    shell.installFailure = { message: refused, refused: true };
    shell.offerUpdate("0.2.0");
    fireEvent.click(within(await screen.findByTestId("update-banner")).getByRole("button", { name: "Install and restart" }));
    await waitFor(() => expect(screen.getByTestId("update-banner").textContent).toContain(refused));
    const banner = screen.getByTestId("update-banner");
    expect(within(banner).queryByRole("button", { name: "Try again" })).toBeNull();
    expect(within(banner).queryByRole("button", { name: "Install and restart" })).toBeNull();
    fireEvent.click(within(banner).getByRole("button", { name: "Later" }));
    await waitFor(() => expect(screen.queryByTestId("update-banner")).toBeNull());
    expect(shell.restartedInto).toBeNull();
  });

  it("Settings shows the version, changes the schedule, checks by hand; a failed check stays out of the way", async () => {
    const shell = await start();
    shell.updater = { ...shell.updater, phase: { phase: "check_failed", message: "Couldn't check for updates. The app will try again later." } };
    await store.updates.start();
    expect(screen.queryByTestId("update-banner")).toBeNull();
    fireEvent.click(await screen.findByRole("button", { name: "Settings" }));
    const dialog = await screen.findByRole("dialog", { name: "Settings" });
    expect(within(dialog).getByTestId("app-version").textContent).toBe("0.1.0");
    expect(dialog.textContent).toContain("Couldn't check for updates.");

    fireEvent.change(within(dialog).getByLabelText("Check for updates"), { target: { value: "never" } });
    await waitFor(() => expect(shell.callsOf("set_update_schedule").map((c) => c.args.schedule)).toEqual(["never"]));

    fireEvent.click(within(dialog).getByRole("button", { name: "Check now" }));
    await waitFor(() => expect(dialog.textContent).toContain("You're up to date"));
    shell.feedRelease = { version: "0.3.0", notes: null };
    fireEvent.click(within(dialog).getByRole("button", { name: "Check now" }));
    await waitFor(() => expect(dialog.textContent).toContain("Version 0.3.0 is available."));
  });

  it("a build without a feed says so instead of offering checks", async () => {
    const shell = new FakeShell({ signedIn: true });
    shell.updater = { ...shell.updater, feed: false };
    shell.install();
    store = new Store(api);
    render(<App store={store} />);
    await store.start();
    fireEvent.click(await screen.findByRole("button", { name: "Settings" }));
    const dialog = await screen.findByRole("dialog", { name: "Settings" });
    await waitFor(() => expect(dialog.textContent).toContain("This build has no release feed"));
    expect(within(dialog).queryByRole("button", { name: "Check now" })).toBeNull();
  });

  it("words the download's size", () => {
    expect(progressText(1_500_000, 4_000_000)).toBe("1.5 of 4.0 MB");
    expect(progressText(2_000_000, null)).toBe("2.0 MB");
  });
});
