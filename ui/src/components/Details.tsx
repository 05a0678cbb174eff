// The technical side of a failure, for whoever wants it: closed by default, never the
// headline. The plain words come first, from the shell.

import { useEffect, useState } from "preact/hooks";

export function Details({ detail }: { detail: string | null | undefined }) {
  if (!detail) return null;
  return (
    <details class="error-details">
      <summary>Details</summary>
      <code>{detail}</code>
    </details>
  );
}

/** Seconds left until `at` (ms since the epoch), ticking each second; null without one. */
export function useSecondsLeft(at: number | null): number | null {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (at === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [at]);
  return at === null ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/** "Retrying in 5 s.", counting down; "Retrying now…" once due. */
export function RetryCountdown({ at, retrying }: { at: number | null; retrying: boolean }) {
  const left = useSecondsLeft(at);
  if (!retrying) return null;
  const text = left === null || left === 0 ? "Retrying now…" : `Retrying in ${left} s.`;
  return <span class="retry-countdown" aria-live="off">{text}</span>;
}
