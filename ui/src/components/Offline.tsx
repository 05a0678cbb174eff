// What the person sees of the offline mode: a banner in plain words while the servers
// can't be reached, and each message still waiting to go out, marked as such.

import type { Outgoing } from "../ipc";

export function OfflineBanner({ queued }: { queued: number }) {
  const waiting = queued === 0 ? "" : queued === 1 ? " 1 message is waiting to go out." : ` ${queued} messages are waiting to go out.`;
  return (
    <div class="banner banner-offline" role="status" data-testid="offline-banner">
      <span class="banner-text">
        <strong>You're offline.</strong> Showing the chats saved on this computer. Messages you send will go out
        when the connection is back.{waiting}
      </span>
    </div>
  );
}

function ClockIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true">
      <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M12 7v5l3 2" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

/** A message typed but not sent yet. */
export function PendingItem({ message }: { message: Outgoing }) {
  return (
    <li class="message message-user status-pending" aria-label="You (not sent yet)" data-message-id={message.messageId}>
      <div class="message-who" aria-hidden="true">You</div>
      <div class="bubble">
        <p class="plain">{message.content}</p>
      </div>
      <div class="message-status pending">
        <ClockIcon /> Waiting for the network
      </div>
    </li>
  );
}
