// The open chat: messages (replies rendered as sanitized Markdown) and the composer.

import { useEffect, useLayoutEffect, useMemo, useRef } from "preact/hooks";
import type { Message } from "../ipc";
import { codeLanguage, renderMarkdown } from "../markdown";
import type { ChatView, Store } from "../store";
import { SendIcon, StopIcon } from "./icons";

/** Adds a language label and a copy button to each code block of rendered HTML. */
function decorateCodeBlocks(root: HTMLElement): void {
  for (const pre of Array.from(root.querySelectorAll("pre"))) {
    if (pre.parentElement?.classList.contains("code-block")) continue;
    const code = pre.querySelector("code");
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    const bar = document.createElement("div");
    bar.className = "code-bar";
    const label = document.createElement("span");
    label.textContent = (code && codeLanguage(code)) || "code";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy-code ghost small";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", "Copy code");
    bar.append(label, copy);
    pre.replaceWith(wrapper);
    wrapper.append(bar, pre);
  }
}

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (ref.current) decorateCodeBlocks(ref.current);
  }, [html]);
  return <div ref={ref} class="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}

function MessageItem({ message }: { message: Message }) {
  const mine = message.role === "user";
  const who = mine ? "You" : message.role === "assistant" ? "Assistant" : "System";
  return (
    <li
      class={`message message-${message.role} status-${message.status}`}
      aria-label={who}
      aria-busy={message.status === "streaming" ? "true" : undefined}
      data-message-id={message.id}
    >
      <div class="message-who" aria-hidden="true">{who}</div>
      <div class="bubble">
        {mine ? <p class="plain">{message.text}</p> : <Markdown text={message.text} />}
      </div>
      {message.status === "streaming" && !message.text && <div class="message-status">Thinking…</div>}
      {message.status === "stopped" && <div class="message-status">Stopped</div>}
      {message.status === "failed" && (
        <div class="message-status error" role="alert">
          Reply failed{message.error ? `: ${message.error}` : ""}
        </div>
      )}
    </li>
  );
}

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

export function Messages({ store, chat }: { store: Store; chat: ChatView | null }) {
  const list = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const messages = chat?.messages ?? [];
  const last = messages[messages.length - 1];
  useLayoutEffect(() => {
    const el = list.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [messages.length, last?.text, last?.status]);
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
  if (!chat || messages.length === 0) {
    return (
      <div class="empty-chat">
        <h2>{chat ? "No messages yet" : "Start a new chat"}</h2>
        <p class="muted">Ask anything. Enter sends, Shift+Enter starts a new line.</p>
      </div>
    );
  }
  return (
    <div
      ref={list}
      class="messages-scroll"
      role="log"
      aria-label="Conversation"
      tabIndex={0}
      onClick={onClick}
      onAuxClick={onClick}
      onScroll={(e) => {
        const el = e.currentTarget;
        pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      }}
    >
      <ol class="messages">
        {messages.map((m) => (
          <MessageItem key={m.id} message={m} />
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
