// Signing in: the browser round trip can take minutes, so the wait is visible and
// can be cancelled.

import { useEffect, useRef } from "preact/hooks";
import type { SessionEnd, SignInError } from "../ipc";
import type { SignInState, Store } from "../store";
import { ThemeToggle } from "./Chrome";
import { Details } from "./Details";
import { LogoIcon } from "./icons";

/** Why the sign-in is asked for again, after the server refused the session. */
export const SESSION_END_TEXT: Record<SessionEnd, { title: string; text: string }> = {
  ended: {
    title: "Your session ended",
    text:
      "Your session ended: this device was signed out from another device or the session was revoked. Sign in again.",
  },
  expired: {
    title: "Your session expired",
    text: "Your session expired after 30 days without use. Sign in again.",
  },
};

const ERROR_TEXT: Record<SignInError["kind"], string> = {
  cancelled: "Sign-in was cancelled.",
  timeout: "Sign-in took too long and timed out. Please try again.",
  network: "Couldn't reach the sign-in server. Check your connection and try again.",
  server: "The sign-in server ran into a problem. Please try again.",
};

function SignInControls({ store, signIn, label }: { store: Store; signIn: SignInState; label: string }) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (signIn.waiting) cancelRef.current?.focus();
  }, [signIn.waiting]);
  if (signIn.waiting) {
    return (
      <div class="signin-progress">
        <progress aria-label="Waiting for sign-in to finish" />
        <p role="status">Waiting for you to finish signing in in your browser…</p>
        {signIn.url && <SignInLink store={store} url={signIn.url} />}
        <button ref={cancelRef} type="button" class="secondary" onClick={() => void store.cancelSignIn()}>
          Cancel
        </button>
      </div>
    );
  }
  return (
    <div class="signin-actions">
      {signIn.error && (
        <p class={signIn.error.kind === "cancelled" ? "signin-note" : "signin-error"} role="alert">
          {ERROR_TEXT[signIn.error.kind]}
          <Details detail={signIn.error.detail} />
        </p>
      )}
      <button type="button" class="primary" onClick={() => void store.signIn()}>
        {label}
      </button>
    </div>
  );
}

/** For when no browser came up: open the page again, or copy its address elsewhere. */
function SignInLink({ store, url }: { store: Store; url: string }) {
  return (
    <div class="signin-link">
      <p class="muted">
        No browser window?{" "}
        <button type="button" class="link" onClick={() => void store.openLink(url)}>
          Open the sign-in page again
        </button>{" "}
        or copy its address:
      </p>
      <input
        type="text"
        readOnly
        value={url}
        aria-label="Sign-in page address"
        onFocus={(e) => e.currentTarget.select()}
      />
    </div>
  );
}

export function SignInScreen({ store, signIn, sessionEnd = null }: {
  store: Store; signIn: SignInState; sessionEnd?: SessionEnd | null;
}) {
  return (
    <main class="signin" aria-labelledby="signin-title">
      <div class="signin-theme">
        <ThemeToggle />
      </div>
      <section class="signin-card">
        <LogoIcon />
        <h1 id="signin-title">Sign in to Superset</h1>
        {sessionEnd && (
          <p class="signin-ended" role="alert">
            {SESSION_END_TEXT[sessionEnd].text}
          </p>
        )}
        <p class="muted">Your browser opens to finish signing in, then you come back here.</p>
        <SignInControls store={store} signIn={signIn} label="Sign in with your browser" />
      </section>
    </main>
  );
}

/** Over the app, so the open chat and the unsent draft stay where they are. */
export function ExpiredDialog({ store, signIn, open, sessionEnd }: {
  store: Store; signIn: SignInState; open: boolean; sessionEnd: SessionEnd | null;
}) {
  const words = SESSION_END_TEXT[sessionEnd ?? "ended"];
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="expired-title"
      aria-describedby="expired-text"
      onCancel={(e) => e.preventDefault()}
    >
      <h2 id="expired-title">{words.title}</h2>
      <p id="expired-text">{words.text} Your unsent message is kept.</p>
      <SignInControls store={store} signIn={signIn} label="Sign in again" />
    </dialog>
  );
}
