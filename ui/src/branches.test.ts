import { describe, expect, it } from "vitest";
import { choose, latestLeaf, showNewest, thread, turnKey, versions, visibleThread } from "./branches";
import type { Message } from "./ipc";

function msg(id: string, role: Message["role"], parentId: string | null): Message {
  return { id, role, parentId, actorId: role, text: id, status: "complete", error: null, createdAt: "", model: null };
}

const ids = (messages: Message[]) => messages.map((m) => m.id);

// The same conversation as the chat crate's `regenerating_and_editing_branch_the_conversation`.
const q1 = msg("q1", "user", null);
const a1 = msg("a1", "assistant", "q1");
const q2 = msg("q2", "user", "a1");
const a2 = msg("a2", "assistant", "q2");
const a2b = msg("a2b", "assistant", "q2");
const sys = msg("sys", "system", null);
const q1b = msg("q1b", "user", null);
const a1b = msg("a1b", "assistant", "q1b");
const q2b = msg("q2b", "user", "a1");

describe("branches", () => {
  it("follows parents from a leaf to the root", () => {
    const all = [q1, a1, sys, q2, a2, a2b];
    expect(ids(thread(all, "a2"))).toEqual(["q1", "a1", "q2", "a2"]);
    expect(ids(thread(all, "a2b"))).toEqual(["q1", "a1", "q2", "a2b"]);
    expect(thread(all, "nope")).toEqual([]);
  });

  it("shows the newest version of every turn by default, as Conversation::latest_leaf", () => {
    expect(latestLeaf([q1, a1, sys, q2, a2, a2b])).toBe("a2b");
    expect(latestLeaf([q1, a1, q2, a2, a2b, q1b, a1b])).toBe("a1b");
    expect(latestLeaf([q1, a1, q2, a2, a2b, q1b, a1b, q2b])).toBe("a1b");
    expect(latestLeaf([sys])).toBeNull();
    expect(latestLeaf([])).toBeNull();
  });

  it("lists the versions of a turn in stream order; system messages have none", () => {
    const all = [q1, a1, q2, a2, a2b, q1b, a1b, q2b, sys];
    expect(versions(all, "a2")).toEqual(["a2", "a2b"]);
    expect(versions(all, "q1")).toEqual(["q1", "q1b"]);
    expect(versions(all, "q2b")).toEqual(["q2", "q2b"]);
    expect(versions(all, "sys")).toEqual([]);
    expect(versions(all, "nope")).toEqual([]);
  });

  it("shows the chosen versions, and the newest below them", () => {
    const all = [q1, a1, q2, a2, a2b, q1b, a1b, q2b];
    expect(ids(visibleThread(all, {}))).toEqual(["q1b", "a1b"]);
    let choice = choose({}, q1);
    expect(ids(visibleThread(all, choice))).toEqual(["q1", "a1", "q2b"]);
    choice = choose(choice, q2);
    expect(ids(visibleThread(all, choice))).toEqual(["q1", "a1", "q2", "a2b"]);
    choice = choose(choice, a2);
    expect(ids(visibleThread(all, choice))).toEqual(["q1", "a1", "q2", "a2"]);
    // Asking for another reply to q2 shows the newest reply again.
    choice = showNewest(choice, { parentId: "q2", role: "assistant" });
    expect(ids(visibleThread(all, choice))).toEqual(["q1", "a1", "q2", "a2b"]);
    expect(turnKey(a2)).toBe(turnKey(a2b));
    expect(turnKey(q1)).not.toBe(turnKey(a1));
  });

  it("ignores a choice that is not among a turn's messages", () => {
    expect(ids(visibleThread([q1, a1], { [turnKey(a1)]: "gone" }))).toEqual(["q1", "a1"]);
  });
});
