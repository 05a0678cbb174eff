import { describe, expect, it } from "vitest";
import { estimateSize, indexAt, offsetsOf, spanOf } from "./virtual";
import type { Message } from "./ipc";

const message = (text: string): Message => ({
  id: "m", role: "assistant", actorId: "assistant", text, status: "complete", error: null,
  createdAt: "2026-01-01T00:00:00Z", parentId: null, model: null,
});

describe("the message window", () => {
  const offsets = offsetsOf(new Array(1000).fill(100));

  it("renders the view and a margin each way, never the whole thread", () => {
    expect(spanOf(offsets, 50_000, 800, 800)).toEqual({ start: 492, end: 517 });
    expect(spanOf(offsets, 0, 800, 800)).toEqual({ start: 0, end: 17 });
    // At the bottom of the thread.
    expect(spanOf(offsets, 100_000 - 800, 800, 800)).toEqual({ start: 984, end: 1000 });
    expect(spanOf(offsetsOf([]), 0, 800, 800)).toEqual({ start: 0, end: 0 });
  });

  it("finds the message under a point, by measured sizes", () => {
    const mixed = offsetsOf([300, 20, 500]);
    expect([indexAt(mixed, -5), indexAt(mixed, 0), indexAt(mixed, 299), indexAt(mixed, 300), indexAt(mixed, 330), indexAt(mixed, 9999)])
      .toEqual([0, 0, 0, 1, 2, 2]);
  });

  it("estimates longer texts taller", () => {
    const short = estimateSize(message("Hi"));
    const long = estimateSize(message("A paragraph of some length. ".repeat(20) + "\n\n```ts\nconst a = 1;\n```"));
    expect(short).toBeGreaterThan(40);
    expect(long).toBeGreaterThan(short * 3);
  });
});
