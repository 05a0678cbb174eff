// Whether the servers can be reached, and the messages waiting to go out: the shell
// keeps a local copy of every chat and an outbox, and tells the UI here. Offline, the
// chats read from that copy, and what is typed is shown pending until it is sent.

import type { Api, Outgoing } from "./ipc";
import { Observed } from "./observed";

export interface OfflineState {
  offline: boolean;
  /** Messages typed but not yet sent, every chat's, oldest first. */
  queued: Outgoing[];
}

export class Offline extends Observed<OfflineState> {
  private unlisteners: Array<() => void> = [];

  constructor(private readonly api: Api) {
    super({ offline: false, queued: [] });
  }

  /** Listens to the shell, then asks where things stand (events first: none is missed). */
  async start(): Promise<void> {
    this.unlisteners.push(
      ...(await Promise.all([
        this.api.onNetworkChanged((offline) => this.set({ offline })),
        this.api.onOutboxChanged((queued) => this.set({ queued })),
      ])),
    );
    await this.refresh();
  }

  /** Asks the shell again (after sign-in, or a send). */
  async refresh(): Promise<void> {
    try {
      const [status, queued] = await Promise.all([this.api.networkStatus(), this.api.queuedMessages()]);
      this.set({ offline: status.offline, queued });
    } catch {
      // Signed out or starting: nothing is queued that the UI could show.
    }
  }

  stopAll(): void {
    for (const unlisten of this.unlisteners) unlisten();
    this.unlisteners = [];
  }

  isQueued(messageId: string): boolean {
    return this.state.queued.some((m) => m.messageId === messageId);
  }

  /** The chat's messages still waiting, except those the conversation already shows. */
  pendingIn(sessionId: string | null, shown: ReadonlyArray<{ id: string }>): Outgoing[] {
    if (!sessionId) return [];
    const ids = new Set(shown.map((m) => m.id));
    return this.state.queued.filter((m) => m.sessionId === sessionId && !ids.has(m.messageId));
  }
}
