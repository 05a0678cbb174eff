// One message of the thread on screen, with what can be done to it: copy it, switch
// between the versions of its turn ("< 2 / 3 >"), regenerate the last reply (or retry
// a failed one), edit a message of yours and send it again. Regenerating and editing
// add versions; the earlier ones stay a click away, on every device.
//
// Rendering keeps up with a fast stream: an item re-renders only when its own message
// changed, a streaming reply is parsed at most once per animation frame, and then only
// its unsettled tail (see `splitSettled`).

import { Component } from "preact";
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { highlightCode } from "../highlight";
import type { Message } from "../ipc";
import { codeLanguage, renderMarkdown, splitSettled } from "../markdown";
import type { Store } from "../store";

/** Adds a language label and a copy button to each code block of rendered HTML and,
 *  once the text is final, colours the code. */
function decorateCodeBlocks(root: HTMLElement, final: boolean): void {
  for (const pre of Array.from(root.querySelectorAll("pre"))) {
    const code = pre.querySelector("code");
    if (final && code) highlightCode(code);
    if (pre.parentElement?.classList.contains("code-block")) continue;
    const wrapper = document.createElement("div");
    wrapper.className = "code-block";
    const bar = document.createElement("div");
    bar.className = "code-bar";
    const label = document.createElement("span");
    label.className = "code-language";
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

function Html({ html, final }: { html: string; final: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    if (ref.current) decorateCodeBlocks(ref.current, final);
  }, [html, final]);
  return <div ref={ref} class="markdown-part" dangerouslySetInnerHTML={{ __html: html }} />;
}

/** A finished reply: parsed once. */
function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return (
    <div class="markdown">
      <Html html={html} final={true} />
    </div>
  );
}

/** The text as of the last animation frame: however fast deltas come, the reply is
 *  parsed and painted at most once per frame. */
function useFrameThrottled(text: string): string {
  const [shown, setShown] = useState(text);
  const latest = useRef(text);
  const frame = useRef<number | null>(null);
  latest.current = text;
  useLayoutEffect(() => {
    if (shown === text || frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setShown(latest.current);
    });
  }, [text, shown]);
  useLayoutEffect(() => () => {
    if (frame.current !== null) cancelAnimationFrame(frame.current);
  }, []);
  return shown;
}

/** A reply still streaming: its settled part parsed once, its tail per frame. */
function StreamingMarkdown({ text }: { text: string }) {
  const shown = useFrameThrottled(text);
  const [settled, tail] = splitSettled(shown);
  const settledHtml = useMemo(() => renderMarkdown(settled), [settled]);
  const tailHtml = useMemo(() => renderMarkdown(tail), [tail]);
  return (
    <div class="markdown">
      <Html html={settledHtml} final={false} />
      <Html html={tailHtml} final={false} />
    </div>
  );
}

async function copyText(text: string, setLabel: (label: string) => void): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    setLabel("Copied");
  } catch {
    setLabel("Copy failed");
  }
  setTimeout(() => setLabel("Copy"), 1500);
}

function VersionSwitcher({ store, versions, id }: { store: Store; versions: string[]; id: string }) {
  const at = versions.indexOf(id);
  return (
    <span class="versions" role="group" aria-label="Versions">
      <button
        type="button"
        class="ghost small"
        aria-label="Previous version"
        disabled={at <= 0}
        onClick={() => store.chooseVersion(versions[at - 1])}
      >
        ‹
      </button>
      <span class="version-count" aria-live="polite">{`${at + 1} / ${versions.length}`}</span>
      <button
        type="button"
        class="ghost small"
        aria-label="Next version"
        disabled={at >= versions.length - 1}
        onClick={() => store.chooseVersion(versions[at + 1])}
      >
        ›
      </button>
    </span>
  );
}

function Editor({ store, message, onDone }: { store: Store; message: Message; onDone: () => void }) {
  const [text, setText] = useState(message.text);
  const area = useRef<HTMLTextAreaElement>(null);
  useLayoutEffect(() => area.current?.focus(), []);
  const send = async () => {
    if (await store.edit(message.id, text)) onDone();
  };
  return (
    <form
      class="edit-message"
      aria-label="Edit message"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <textarea
        ref={area}
        value={text}
        aria-label="Edited message"
        rows={Math.min(10, text.split("\n").length + 1)}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") onDone();
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
            e.preventDefault();
            void send();
          }
        }}
      />
      <div class="edit-actions">
        <button type="button" class="ghost small" onClick={onDone}>Cancel</button>
        <button type="submit" class="primary small" disabled={!text.trim() || text === message.text}>Send</button>
      </div>
    </form>
  );
}

export interface MessageItemProps {
  store: Store;
  message: Message;
  /** The ids of the versions of this message's turn, in order. */
  versions: string[];
  /** The last reply of the thread: it offers Regenerate. */
  last: boolean;
  /** Nothing is being sent or generated: regenerate and edit are allowed. */
  idle: boolean;
}

function MessageItemView({ store, message, versions, last, idle }: MessageItemProps) {
  const [editing, setEditing] = useState(false);
  const [copyLabel, setCopyLabel] = useState("Copy");
  const mine = message.role === "user";
  const who = mine ? "You" : message.role === "assistant" ? "Assistant" : "System";
  const streaming = message.status === "streaming";
  const body = mine
    ? <p class="plain">{message.text}</p>
    : streaming ? <StreamingMarkdown text={message.text} /> : <Markdown text={message.text} />;
  return (
    <li
      class={`message message-${message.role} status-${message.status}`}
      aria-label={who}
      aria-busy={streaming ? "true" : undefined}
      data-message-id={message.id}
    >
      <div class="message-who" aria-hidden="true">
        {who}
        {message.model && !mine ? <span class="message-model">{` · ${message.model}`}</span> : null}
      </div>
      {editing ? (
        <Editor store={store} message={message} onDone={() => setEditing(false)} />
      ) : (
        <div class="bubble">{body}</div>
      )}
      {streaming && !message.text && <div class="message-status">Thinking…</div>}
      {message.status === "stopped" && <div class="message-status">Stopped</div>}
      {message.status === "failed" && (
        <div class="message-status error" role="alert">
          {`The reply failed${message.error ? `: ${message.error}` : "."} `}
          <button type="button" class="small retry" disabled={!idle} onClick={() => void store.regenerate(message.id)}>
            Retry
          </button>
        </div>
      )}
      {!streaming && !editing && (
        <div class="message-actions">
          {versions.length > 1 && <VersionSwitcher store={store} versions={versions} id={message.id} />}
          <button
            type="button"
            class="ghost small"
            aria-label="Copy message"
            onClick={() => void copyText(message.text, setCopyLabel)}
          >
            {copyLabel}
          </button>
          {mine && (
            <button type="button" class="ghost small" aria-label="Edit message" disabled={!idle} onClick={() => setEditing(true)}>
              Edit
            </button>
          )}
          {last && !mine && message.status !== "failed" && (
            <button
              type="button"
              class="ghost small"
              aria-label="Regenerate reply"
              disabled={!idle}
              onClick={() => void store.regenerate(message.id)}
            >
              Regenerate
            </button>
          )}
        </div>
      )}
    </li>
  );
}

function same(a: MessageItemProps, b: MessageItemProps): boolean {
  const [m, n] = [a.message, b.message];
  return (
    a.store === b.store && a.last === b.last && a.idle === b.idle &&
    a.versions.join() === b.versions.join() &&
    m.id === n.id && m.text === n.text && m.status === n.status && m.error === n.error && m.model === n.model
  );
}

/** A message that re-renders only when it changed: during a stream, only the reply.
 *  (Not preact/compat's `memo`: importing compat changes how every `onChange` in the
 *  app is wired.) */
export class MessageItem extends Component<MessageItemProps> {
  shouldComponentUpdate(next: MessageItemProps): boolean {
    return !same(this.props, next);
  }

  render() {
    return <MessageItemView {...this.props} />;
  }
}
