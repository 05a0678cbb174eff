// The scrolling of the message list, with only the messages on screen (and a margin)
// in the page: see ../virtual.ts. Heights are measured after each render, before the
// browser paints, so a chat opens on its last screen at once; while scrolled up, the
// message at the top of the view stays put as the heights of those above it become
// known.

import type { RefObject } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../ipc";
import { estimateSize, indexAt, offsetsOf, setRevealer, spanOf, type Span } from "../virtual";

/** The view's height where there is no layout (jsdom): about one screen. */
const NO_LAYOUT_HEIGHT = 800;
/** Rendered beyond the view each way: at least one screen, so scrolling shows no gap. */
const MIN_MARGIN = 600;
/** Within this of the bottom, the list follows new messages. */
const PINNED_PX = 40;
const DEFAULT_GAP = 16;

interface View {
  /** At the bottom: the list follows new messages. */
  pinned: boolean;
  top: number;
  height: number;
  /** While scrolled up: the message at the top of the view and how far into it the
   *  view starts, kept when the heights above it change. */
  anchor: { id: string; into: number } | null;
}

export interface MessageWindow {
  span: Span;
  /** Space for the messages before and after the span (gaps included). */
  before: number;
  after: number;
  onScroll: () => void;
}

const pinnedView = (): View => ({ pinned: true, top: 0, height: 0, anchor: null });

export function useMessageWindow(
  scroller: RefObject<HTMLDivElement | null>,
  list: RefObject<HTMLOListElement | null>,
  messages: Message[],
  chatId: string | null,
): MessageWindow {
  const [, rerender] = useState(0);
  const refresh = () => rerender((n) => n + 1);
  const sizes = useRef(new Map<string, number>());
  const view = useRef<View>(pinnedView());
  const gap = useRef(DEFAULT_GAP);
  const chat = useRef(chatId);
  if (chat.current !== chatId) {
    // Another chat opens at its bottom; what was measured of the last one goes.
    chat.current = chatId;
    sizes.current = new Map();
    view.current = pinnedView();
  }
  const offsets = offsetsOf(messages.map((m) => sizes.current.get(m.id) ?? estimateSize(m)));
  const total = offsets[messages.length];
  const v = view.current;
  const height = v.height || NO_LAYOUT_HEIGHT;
  const top = v.pinned ? Math.max(0, total - height) : v.top;
  const span = spanOf(offsets, top, height, Math.max(height, MIN_MARGIN));
  const layout = useRef({ offsets, messages });
  layout.current = { offsets, messages };

  useLayoutEffect(() => {
    const el = scroller.current;
    const ol = list.current;
    if (!el || !ol) return;
    if (measure(ol, span, messages, sizes.current, gap) || (el.clientHeight && el.clientHeight !== v.height)) {
      v.height = el.clientHeight;
      refresh();
      return;
    }
    if (v.pinned) el.scrollTop = el.scrollHeight;
    else if (v.anchor) {
      const at = messages.findIndex((m) => m.id === v.anchor!.id);
      const want = at < 0 ? el.scrollTop : offsets[at] + v.anchor.into;
      if (Math.abs(el.scrollTop - want) >= 1) el.scrollTop = want;
      v.top = el.scrollTop;
    }
  });

  // Heights that change on their own (a streaming reply painted per frame, the window
  // resized) are measured again.
  const watching = useRef<{ observer: ResizeObserver; list: Element } | null>(null);
  useEffect(() => {
    const [el, ol] = [scroller.current, list.current];
    if (typeof ResizeObserver === "undefined" || watching.current?.list === ol) return;
    watching.current?.observer.disconnect();
    watching.current = null;
    if (!el || !ol) return;
    const observer = new ResizeObserver(refresh);
    observer.observe(el);
    observer.observe(ol);
    watching.current = { observer, list: ol };
  });
  useEffect(() => () => watching.current?.observer.disconnect(), []);

  useEffect(() =>
    setRevealer((id) => {
      const { offsets, messages } = layout.current;
      const at = messages.findIndex((m) => m.id === id);
      const el = scroller.current;
      if (at < 0 || !el) return false;
      const size = offsets[at + 1] - offsets[at];
      el.scrollTop = Math.max(0, offsets[at] - Math.max(0, (el.clientHeight - size) / 2));
      view.current = { pinned: false, top: el.scrollTop, height: el.clientHeight, anchor: { id, into: el.scrollTop - offsets[at] } };
      refresh();
      return true;
    }), []);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const pinned = el.scrollHeight - el.scrollTop - el.clientHeight < PINNED_PX;
    const { offsets, messages } = layout.current;
    const at = indexAt(offsets, el.scrollTop);
    const anchor = messages[at] ? { id: messages[at].id, into: el.scrollTop - offsets[at] } : null;
    view.current = { pinned, top: el.scrollTop, height: el.clientHeight, anchor };
    refresh();
  };

  const before = span.start > 0 ? offsets[span.start] - gap.current : 0;
  const after = span.end < messages.length ? total - offsets[span.end] - gap.current : 0;
  return { span, before: Math.max(0, before), after: Math.max(0, after), onScroll };
}

/** Records the heights of the rendered messages (plus the gap after each); true when
 *  one changed. */
function measure(
  ol: HTMLOListElement,
  span: Span,
  messages: Message[],
  sizes: Map<string, number>,
  gap: { current: number },
): boolean {
  gap.current = parseFloat(getComputedStyle(ol).rowGap) || DEFAULT_GAP;
  const rendered = new Set(messages.slice(span.start, span.end).map((m) => m.id));
  let changed = false;
  for (const li of Array.from(ol.children) as HTMLElement[]) {
    const id = li.dataset.messageId;
    const height = li.offsetHeight;
    if (!id || !rendered.has(id) || !height) continue;
    const size = height + gap.current;
    if (Math.abs((sizes.get(id) ?? -1) - size) >= 1) {
      sizes.set(id, size);
      changed = true;
    }
  }
  return changed;
}
