import { useEffect, useLayoutEffect } from "preact/hooks";
import type { Store } from "../store";
import { Composer, Messages } from "./Chat";
import { ConnectionBanner, Notice, TopBar } from "./Chrome";
import { useObserved } from "./hooks";
import { OfflineBanner } from "./Offline";
import { useAppShortcuts } from "./Keyboard";
import { ShortcutHelp } from "./ShortcutHelp";
import { shortcuts } from "../shortcuts";
import { Sidebar, sessionTitle } from "./Sidebar";
import { ExpiredDialog, SignInScreen } from "./SignIn";
import { SystemPrompt } from "./ModelPicker";
import { ExportMenu } from "./Transfer";
import { UpdateBanner } from "./Updates";

export function App({ store }: { store: Store }) {
  const state = useObserved(store);
  const offline = useObserved(store.offline);
  useAppShortcuts(store);
  const screen = state.phase === "loading" ? null : state.phase === "signed-out" ? "sign-in" : "chat";
  // The first screen laid out (a mark the footprint test reads), then on display:
  // effects run after the browser painted.
  useLayoutEffect(() => {
    if (screen) performance.mark("start:laid-out");
  }, [screen]);
  useEffect(() => {
    if (screen) void store.firstPainted(screen);
  }, [store, screen]);
  if (state.phase === "loading") {
    return (
      <main class="loading" aria-busy="true">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (state.phase === "signed-out") {
    return (
      <>
        <ConnectionBanner store={store} banner={state.banner} />
        <UpdateBanner store={store} />
        <Notice store={store} text={state.notice} detail={state.noticeDetail} />
        <SignInScreen store={store} signIn={state.signIn} sessionEnd={state.sessionEnd} />
        <ShortcutHelp registry={shortcuts} />
      </>
    );
  }
  const active = state.sessions.find((s) => s.sessionId === state.activeId);
  const title = state.activeId ? state.chat?.title ?? sessionTitle(active) : "New chat";
  return (
    <div class="app">
      <TopBar store={store} user={state.user} />
      {offline.offline ? (
        <OfflineBanner queued={offline.queued.length} />
      ) : (
        <ConnectionBanner store={store} banner={state.banner} />
      )}
      <UpdateBanner store={store} />
      <div class="body">
        <Sidebar store={store} sessions={state.sessions} listed={state.listed} activeId={state.activeId} />
        <main class="chat" aria-labelledby="chat-title">
          <header class="chat-header">
            <h1 id="chat-title">{title}</h1>
            {state.chat && !state.chat.live && state.activeId && (
              <span class="chip" title="Not receiving updates">Offline copy</span>
            )}
            {state.activeId && state.chat && (
              <SystemPrompt sessionId={state.activeId} messages={state.chat.messages} save={(id, prompt) => store.setSystemPrompt(id, prompt)} />
            )}
            {state.activeId && <ExportMenu store={store} sessionId={state.activeId} />}
          </header>
          <Notice store={store} text={state.notice} detail={state.noticeDetail} />
          <Messages
            store={store}
            chat={state.chat}
            pending={store.offline.pendingIn(state.activeId, state.chat?.messages ?? [])}
          />
          <Composer
            store={store}
            draft={store.draft()}
            running={store.replyRunning()}
            canSend={store.canSend()}
          />
        </main>
      </div>
      <ExpiredDialog store={store} signIn={state.signIn} open={state.expired} sessionEnd={state.sessionEnd} />
      <ShortcutHelp registry={shortcuts} />
    </div>
  );
}
