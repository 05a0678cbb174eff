// Updates as the shell reports them (`update:changed`): the running version, whether a
// newer signed release is available, and the download and install of it. The shell
// checks on its schedule; the person decides when to install.

import type { Api, UpdateSchedule, UpdateStatus } from "./ipc";
import { Observed } from "./observed";

export interface UpdatesState {
  status: UpdateStatus | null;
  /** What the person put off with "Later" (`bannerKey`): hidden until the app starts again. */
  later: string | null;
}

/** What the banner is about: a version on offer, or a failed install of one. */
function bannerKey(status: UpdateStatus): string {
  return `${status.phase.phase === "install_failed" ? "failed " : ""}${status.available?.version ?? ""}`;
}

export class Updates extends Observed<UpdatesState> {
  private unlisten: (() => void) | null = null;

  constructor(private readonly api: Api) {
    super({ status: null, later: null });
  }

  /** Listens to the shell, then asks where things stand (events first: none is missed). */
  async start(): Promise<void> {
    this.unlisten = await this.api.onUpdateChanged((status) => this.set({ status }));
    try {
      this.set({ status: await this.api.updateStatus() });
    } catch {
      // An older shell, or none: no updates to show.
    }
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = null;
  }

  /** Whether the banner shows: an update or a failed install the person has not put off, or an install running. */
  bannerShown(): boolean {
    const { status, later } = this.state;
    if (!status) return false;
    const phase = status.phase.phase;
    if (phase === "downloading" || phase === "installing") return true;
    return (phase === "install_failed" || !!status.available) && bannerKey(status) !== later;
  }

  later(): void {
    const { status } = this.state;
    this.set({ later: status ? bannerKey(status) : null });
  }

  /** Downloads, installs and restarts; a failure is in the status the shell sends. */
  async install(): Promise<void> {
    this.set({ later: null });
    try {
      await this.api.installUpdate();
    } catch {
      // The shell reported it as `install_failed`, with words for the banner.
    }
  }

  async check(): Promise<void> {
    try {
      this.set({ status: await this.api.checkForUpdate() });
    } catch {
      // Reported in the status as `check_failed`.
    }
  }

  async setSchedule(schedule: UpdateSchedule): Promise<void> {
    this.set({ status: await this.api.setUpdateSchedule(schedule) });
  }
}

/** "12.5 of 40.0 MB", or what has arrived when the size is unknown. */
export function progressText(received: number, total: number | null): string {
  const mb = (bytes: number) => (bytes / 1_000_000).toFixed(1);
  return total ? `${mb(received)} of ${mb(total)} MB` : `${mb(received)} MB`;
}
