// The open chat: messages (replies rendered as sanitized Markdown) and the composer.

import { useEffect, useLayoutEffect, useRef } from "preact/hooks";
import { turnKey } from "../branches";
import type { ChatView, Store } from "../store";
import { SendIcon, StopIcon } from "./icons";
import { MessageItem } from "./MessageItem";
import { ModelPicker } from "./ModelPicker";
import type { Outgoing } from "../ipc";
import { PendingItem } from "./Offline";
import { useMessageWindow } from "./useMessageWindow";

async function copyCode(button: HTMLElement): Promise<void> {
  const code = button.closest(".code-block")?.querySelector("code, pre");
  try {
    await navigator.clipboard.writeText(code?.textContent ?? "");
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = "Copy"), 1500);
}

/** The open thread, only the messages on screen and a margin in the page (see
 *  useMessageWindow): it opens at its end and follows new messages while there. */
export function Messages({ store, chat, pending = [] }: { store: Store; chat: ChatView | null; pending?: Outgoing[] }) {
  const scroller = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLOListElement>(null);
  const messages = chat?.thread ?? [];
  const last = messages[messages.length - 1];
  const idle = store.canRework();
  const { span, before, after, onScroll } = useMessageWindow(scroller, list, messages, store.state.activeId);
  const onClick = (e: MouseEvent) => {
    const target = e.target as HTMLElement;
    const link = target.closest("a");
    if (link) {
      // Links never navigate the app window; safe ones open in the system browser.
      e.preventDefault();
      const href = link.getAttribute("href");
      if (href) void store.openLink(href);
      return;
    }
    const copy = target.closest<HTMLElement>("button.copy-code");
    if (copy) void copyCode(copy);
  };
  if (!chat || (messages.length === 0 && pending.length === 0)) {
    return (
      <div class="empty-chat">
        <h2>{chat ? "No messages yet" : "Start a new chat"}</h2>
        <p class="muted">Ask anything. Enter sends, Shift+Enter starts a new line.</p>
      </div>
    );
  }
  return (
    <div
      ref={scroller}
      class="messages-scroll"
      role="log"
      aria-label="Conversation"
      tabIndex={0}
      onClick={onClick}
      onAuxClick={onClick}
      onScroll={onScroll}
    >
      <ol ref={list} class="messages">
        {before > 0 && <li class="spacer" aria-hidden="true" style={{ height: `${before}px` }} />}
        {messages.slice(span.start, span.end).map((m) => (
          <MessageItem
            key={m.id}
            store={store}
            message={m}
            versions={chat.versions[turnKey(m)] ?? [m.id]}
            last={m === last && m.role === "assistant"}
            idle={idle}
          />
        ))}
        {after > 0 && <li class="spacer" aria-hidden="true" style={{ height: `${after}px` }} />}
        {pending.map((m) => (
          <PendingItem key={m.messageId} message={m} />
        ))}
      </ol>
    </div>
  );
}

export function Composer({ store, draft, running, canSend }: {
  store: Store; draft: string; running: boolean; canSend: boolean;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
  }, [draft]);
  useEffect(() => {
    area.current?.focus();
  }, [store.state.activeId]);
  return (
    <form
      class="composer"
      aria-label="Write a message"
      onSubmit={(e) => {
        e.preventDefault();
        void store.send();
      }}
    >
      <textarea
        ref={area}
        rows={1}
        value={draft}
        aria-label="Message"
        data-shortcut="focus-composer"
        placeholder="Message the assistant…"
        onInput={(e) => store.setDraft(e.currentTarget.value)}
        onKeyDown={(e) => {
          // Enter sends, Shift+Enter is a new line; never while an IME is composing.
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            void store.send();
          }
        }}
      />
      <ModelPicker assistant={store.assistant} chat={store.state.activeId} />
      {running ? (
        <button type="button" class="stop" aria-label="Stop generating" title="Stop (Esc)" onClick={() => void store.stop()}>
          <StopIcon />
          <span>Stop</span>
        </button>
      ) : (
        <button type="submit" class="primary send" aria-label="Send message" title="Send (Enter)" disabled={!canSend}>
          <SendIcon />
        </button>
      )}
    </form>
  );
}
