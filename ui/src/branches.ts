// Versions of a turn. Regenerating a reply or editing a message adds a message with the
// same parent and role (a new version); every device has them all, through the one
// chat stream. Which version of each turn is on screen is this window's own choice:
// the newest unless the user picked another with "< 2 / 3 >". These functions mirror
// `superset_chat::Conversation::{thread, latest_leaf, versions}` exactly, on the
// messages the shell sends (whose `parentId` it has already resolved).

import type { Message } from "./ipc";

/** The versions picked on screen: turn key -> message id. */
export type VersionChoice = Record<string, string>;

/** Which turn a message is a version of: its parent and its role. */
export function turnKey(message: Pick<Message, "parentId" | "role">): string {
  return `${message.parentId ?? ""}/${message.role}`;
}

/** The thread ending at `leaf`, root first; empty when `leaf` is unknown. */
export function thread(messages: Message[], leaf: string): Message[] {
  const byId = new Map(messages.map((m) => [m.id, m]));
  const path: Message[] = [];
  let next = byId.get(leaf);
  // Parents come earlier in the stream; the bound only guards against a bad writer.
  while (next && path.length < messages.length) {
    path.push(next);
    next = next.parentId === null ? undefined : byId.get(next.parentId);
  }
  return path.reverse();
}

/** The children of each message (key "" for first messages), in stream order. */
function children(messages: Message[]): Map<string, Message[]> {
  const map = new Map<string, Message[]>();
  for (const m of messages) {
    if (m.role === "system") continue;
    const key = m.parentId ?? "";
    const list = map.get(key);
    if (list) list.push(m);
    else map.set(key, [m]);
  }
  return map;
}

/** The thread shown with no choice made ends here: the newest first message, then
 *  always the newest follower. */
export function latestLeaf(messages: Message[]): string | null {
  return visibleThread(messages, {}).at(-1)?.id ?? null;
}

/** The versions of the turn `id` belongs to, in stream order, `id` included. */
export function versions(messages: Message[], id: string): string[] {
  const message = messages.find((m) => m.id === id);
  if (!message || message.role === "system") return [];
  return messages.filter((m) => m.role === message.role && m.parentId === message.parentId).map((m) => m.id);
}

/** The thread on screen: from the root, at each step the newest follower, unless a
 *  version of that follower's turn was chosen. */
export function visibleThread(messages: Message[], choice: VersionChoice): Message[] {
  const kids = children(messages);
  const shown: Message[] = [];
  let at = "";
  while (shown.length < messages.length) {
    const next = kids.get(at);
    if (!next) break;
    const newest = next[next.length - 1];
    const picked = choice[turnKey(newest)];
    const message = next.find((m) => m.id === picked && m.role === newest.role) ?? newest;
    shown.push(message);
    at = message.id;
  }
  return shown;
}

/** The choice after showing version `id` of its turn. */
export function choose(choice: VersionChoice, message: Message): VersionChoice {
  return { ...choice, [turnKey(message)]: message.id };
}

/** The choice after a new version of `message`'s turn was asked for: the turn shows
 *  its newest version again, which the new one will be. */
export function showNewest(choice: VersionChoice, message: Pick<Message, "parentId" | "role">): VersionChoice {
  const next = { ...choice };
  delete next[turnKey(message)];
  return next;
}
