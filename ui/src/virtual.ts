// Which messages of the open thread are in the page: those on screen and a margin
// around them, so that a chat of any length costs the page what one screen does (a
// 500-turn chat rendered whole took seconds to open and ~400 MB in WebKit). The rest is
// space: heights measured once a message was rendered, estimated before.

import type { Message } from "./ipc";

/** The rendered messages: indexes [start, end) of the thread. */
export interface Span {
  start: number;
  end: number;
}

/** Pixels per line of text, and around a message (its name, padding, actions). */
const LINE_PX = 22;
const FRAME_PX = 60;
const LINE_CHARS = 80;

/** The space a message never rendered here is taken to need, gap included: near
 *  enough for the scroll bar; replaced by the measured height once it is rendered. */
export function estimateSize(message: Message): number {
  let lines = 0;
  for (const line of message.text.split("\n")) lines += Math.max(1, Math.ceil(line.length / LINE_CHARS));
  return FRAME_PX + LINE_PX * lines;
}

/** Where each message starts, from the top of the first: `offsets[i]`; the last entry
 *  is the total. */
export function offsetsOf(sizes: number[]): number[] {
  const offsets = new Array<number>(sizes.length + 1);
  offsets[0] = 0;
  for (let i = 0; i < sizes.length; i++) offsets[i + 1] = offsets[i] + sizes[i];
  return offsets;
}

/** The first message that ends below `y` (the last one if none does). */
export function indexAt(offsets: number[], y: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (offsets[mid + 1] > y) hi = mid;
    else lo = mid + 1;
  }
  return Math.max(0, lo);
}

/** The messages that overlap the view (`top`, `height`) widened by `margin` each way. */
export function spanOf(offsets: number[], top: number, height: number, margin: number): Span {
  const count = offsets.length - 1;
  if (count <= 0) return { start: 0, end: 0 };
  const start = indexAt(offsets, top - margin);
  const end = Math.min(count, indexAt(offsets, top + height + margin) + 1);
  return { start, end };
}

/** Scrolls the open thread so that a message is rendered; false when it has none such. */
type Revealer = (messageId: string) => boolean;
let revealer: Revealer | null = null;

/** The message list on screen registers how to bring a message into the page. */
export function setRevealer(reveal: Revealer): () => void {
  revealer = reveal;
  return () => {
    if (revealer === reveal) revealer = null;
  };
}

/** Brings message `messageId` of the open thread into the page (scrolled to), so that
 *  it can be found in the DOM; false when no list shows it. */
export function bringIntoPage(messageId: string): boolean {
  return revealer?.(messageId) ?? false;
}
