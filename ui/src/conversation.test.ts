import { describe, expect, it } from "vitest";
import { Conversation, parseEvent, type Chunk } from "./conversation";

// The same cases as crates/chat's tests, so both materializers agree.

function chunk(messageId: string, role: "user" | "assistant", seq: number, c: Chunk, extra: object = {}) {
  return {
    type: "chunk",
    key: `${messageId}:${seq}`,
    value: { messageId, actorId: role === "user" ? "u1" : "assistant", role, seq, chunk: c, createdAt: "2026-01-01T00:00:00Z", ...extra },
    headers: { operation: "insert" },
  };
}
const delta = (text: string): Chunk => ({ type: "text-delta", delta: text });
const session = (title: string | null) => ({
  type: "session",
  key: "s",
  value: { sessionId: "s", title, actorId: "u1", updatedAt: "2026-01-01T00:00:00Z" },
  headers: { operation: "update" },
});
const RESET = { headers: { control: "reset" } };

describe("Conversation", () => {
  it("replays a turn into messages in order", () => {
    const c = Conversation.fromEvents([
      chunk("q", "user", 0, { type: "whole-message", content: "Hello?" }),
      chunk("a", "assistant", 0, delta("Hi ")),
      chunk("a", "assistant", 1, delta("there")),
    ]);
    expect(c.messages.map((m) => [m.id, m.role, m.text, m.status])).toEqual([
      ["q", "user", "Hello?", "complete"],
      ["a", "assistant", "Hi there", "streaming"],
    ]);
    expect(c.streaming()?.id).toBe("a");
    c.applyRaw(chunk("a", "assistant", 2, { type: "message-end" }));
    expect(c.message("a")?.status).toBe("complete");
    expect(c.streaming()).toBeUndefined();
  });

  it("ignores a re-delivered event by (messageId, seq)", () => {
    const c = Conversation.fromEvents([chunk("a", "assistant", 0, delta("x")), chunk("a", "assistant", 0, delta("x"))]);
    expect(c.messages[0].text).toBe("x");
    // The same seq on another message is a different key.
    c.applyRaw(chunk("b", "assistant", 0, delta("y")));
    expect(c.messages.map((m) => m.text)).toEqual(["x", "y"]);
  });

  it("keeps the order of first appearance when messages interleave", () => {
    const c = Conversation.fromEvents([
      chunk("a", "assistant", 0, delta("1")),
      chunk("b", "assistant", 0, delta("2")),
      chunk("a", "assistant", 1, delta("3")),
    ]);
    expect(c.messages.map((m) => `${m.id}=${m.text}`)).toEqual(["a=13", "b=2"]);
  });

  it("stop, error, title and reset", () => {
    const c = Conversation.fromEvents([
      chunk("a", "assistant", 0, delta("par")),
      chunk("a", "assistant", 1, { type: "stop" }),
      chunk("a", "assistant", 2, { type: "message-end" }),
      chunk("b", "assistant", 0, { type: "error", message: "rate limited" }),
    ]);
    expect(c.message("a")).toMatchObject({ text: "par", status: "stopped" });
    expect(c.message("b")).toMatchObject({ status: "failed", error: "rate limited" });
    c.applyRaw(session("Trip"));
    expect(c.title).toBe("Trip");
    c.applyRaw(session(null));
    expect(c.title).toBe("Trip");
    c.applyRaw(RESET);
    expect(c.title).toBeNull();
    expect(c.messages).toEqual([]);
    // After a reset the same keys apply again (the stream starts over).
    c.applyRaw(chunk("a", "assistant", 0, delta("again")));
    expect(c.messages.map((m) => m.text)).toEqual(["again"]);
  });

  it("does not reopen a finished message", () => {
    const c = Conversation.fromEvents([
      chunk("a", "assistant", 0, delta("done")),
      chunk("a", "assistant", 1, { type: "message-end" }),
      chunk("a", "assistant", 2, { type: "stop" }),
    ]);
    expect(c.message("a")?.status).toBe("complete");
  });

  it("skips messages it does not understand", () => {
    expect(parseEvent({ headers: { control: "reset" } })).toEqual({ kind: "reset" });
    expect(parseEvent({ headers: { control: "snapshot-start" } })).toEqual({ kind: "other" });
    expect(parseEvent({ type: "reaction", key: "r", value: {} })).toEqual({ kind: "other" });
    expect(parseEvent({ type: "chunk", value: { messageId: "m" } })).toEqual({ kind: "other" });
    expect(parseEvent(chunk("m", "assistant", 0, { type: "bogus" } as unknown as Chunk))).toEqual({ kind: "other" });
    expect(parseEvent(chunk("m", "assistant", -1, delta("x")))).toEqual({ kind: "other" });
    expect(parseEvent({ ...chunk("m", "assistant", 0, delta("x")), value: { ...chunk("m", "assistant", 0, delta("x")).value, role: "robot" } })).toEqual({ kind: "other" });
    expect(parseEvent(null)).toEqual({ kind: "other" });
    expect(parseEvent("reset")).toEqual({ kind: "other" });
    const c = Conversation.fromEvents([{ type: "reaction" }, chunk("a", "assistant", 0, delta("ok")), 42]);
    expect(c.messages.map((m) => m.text)).toEqual(["ok"]);
  });

  it("reads the txid header and the documented shape", () => {
    const raw = { ...chunk("m1", "assistant", 3, delta("Hi")), headers: { operation: "insert", txid: "t1" } };
    expect(parseEvent(raw)).toEqual({
      kind: "chunk",
      txid: "t1",
      record: { messageId: "m1", actorId: "assistant", role: "assistant", seq: 3, chunk: { type: "text-delta", delta: "Hi" }, createdAt: "2026-01-01T00:00:00Z" },
    });
  });
});
