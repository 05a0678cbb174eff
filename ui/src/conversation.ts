// The conversation a person sees, materialized by replaying a session's events in
// stream order. A port of crates/chat (event.rs + conversation.rs): both must give
// the same conversation from the same events, so every device shows the same thing.

export type Role = "user" | "assistant" | "system";

/** One piece of a message (`chunk.type`). */
export type Chunk =
  | { type: "whole-message"; content: string }
  | { type: "text-delta"; delta: string }
  | { type: "message-end" }
  | { type: "error"; message: string }
  | { type: "stop" };

export interface ChunkRecord {
  messageId: string;
  actorId: string;
  role: Role;
  seq: number;
  chunk: Chunk;
  createdAt: string;
}

export interface SessionRecord {
  sessionId: string;
  title: string | null;
  actorId: string;
  updatedAt: string;
}

/** A stream message, as far as a conversation is concerned. */
export type Event =
  | { kind: "chunk"; record: ChunkRecord; txid: string | null }
  | { kind: "session"; record: SessionRecord }
  | { kind: "reset" }
  /** Anything this version does not know: skipped, so old clients keep working. */
  | { kind: "other" };

export type MessageStatus = "streaming" | "complete" | "stopped" | "failed";

export interface Message {
  id: string;
  role: Role;
  actorId: string;
  text: string;
  status: MessageStatus;
  error: string | null;
  createdAt: string;
}

const OTHER: Event = { kind: "other" };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === "string";
}

function parseRole(value: unknown): Role | null {
  return value === "user" || value === "assistant" || value === "system" ? value : null;
}

function parseChunk(value: unknown): Chunk | null {
  if (!isObject(value)) return null;
  switch (value.type) {
    case "whole-message":
      return isString(value.content) ? { type: "whole-message", content: value.content } : null;
    case "text-delta":
      return isString(value.delta) ? { type: "text-delta", delta: value.delta } : null;
    case "message-end":
      return { type: "message-end" };
    case "error":
      return isString(value.message) ? { type: "error", message: value.message } : null;
    case "stop":
      return { type: "stop" };
    default:
      return null;
  }
}

function parseChunkRecord(value: unknown): ChunkRecord | null {
  if (!isObject(value)) return null;
  const role = parseRole(value.role);
  const chunk = parseChunk(value.chunk);
  const { messageId, actorId, seq, createdAt } = value;
  if (!role || !chunk || !isString(messageId) || !isString(actorId) || !isString(createdAt)) return null;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) return null;
  return { messageId, actorId, role, seq, chunk, createdAt };
}

function parseSessionRecord(value: unknown): SessionRecord | null {
  if (!isObject(value)) return null;
  const { sessionId, title, actorId, updatedAt } = value;
  if (!isString(sessionId) || !isString(actorId) || !isString(updatedAt)) return null;
  if (title !== undefined && title !== null && !isString(title)) return null;
  return { sessionId, title: title ?? null, actorId, updatedAt };
}

/** Reads one State Protocol message of a session's stream; never throws. */
export function parseEvent(value: unknown): Event {
  if (!isObject(value)) return OTHER;
  const headers = isObject(value.headers) ? value.headers : {};
  if (headers.control === "reset") return { kind: "reset" };
  if (value.type === "chunk") {
    const record = parseChunkRecord(value.value);
    if (!record) return OTHER;
    return { kind: "chunk", record, txid: isString(headers.txid) ? headers.txid : null };
  }
  if (value.type === "session") {
    const record = parseSessionRecord(value.value);
    return record ? { kind: "session", record } : OTHER;
  }
  return OTHER;
}

export class Conversation {
  title: string | null = null;
  messages: Message[] = [];
  private index = new Map<string, number>();
  /** Keys already applied: a replayed or re-delivered event changes nothing. */
  private seen = new Set<string>();

  /** Replays raw stream messages from the start of a stream. */
  static fromEvents(events: Iterable<unknown>): Conversation {
    const conversation = new Conversation();
    for (const event of events) conversation.applyRaw(event);
    return conversation;
  }

  message(id: string): Message | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.messages[i];
  }

  /** The message still being generated, if any. */
  streaming(): Message | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) {
      if (this.messages[i].status === "streaming") return this.messages[i];
    }
    return undefined;
  }

  applyRaw(value: unknown): void {
    this.apply(parseEvent(value));
  }

  apply(event: Event): void {
    switch (event.kind) {
      case "chunk":
        this.applyChunk(event.record);
        break;
      case "session":
        if (event.record.title !== null) this.title = event.record.title;
        break;
      case "reset":
        this.title = null;
        this.messages = [];
        this.index.clear();
        this.seen.clear();
        break;
      case "other":
        break;
    }
  }

  private applyChunk(record: ChunkRecord): void {
    // seq is all digits, so the last newline splits the key back unambiguously.
    const key = `${record.messageId}\n${record.seq}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const message = this.messageFor(record);
    const chunk = record.chunk;
    switch (chunk.type) {
      case "whole-message":
        message.text += chunk.content;
        message.status = "complete";
        break;
      case "text-delta":
        message.text += chunk.delta;
        break;
      case "message-end":
        if (message.status === "streaming") message.status = "complete";
        break;
      case "error":
        message.status = "failed";
        message.error = chunk.message;
        break;
      case "stop":
        if (message.status === "streaming") message.status = "stopped";
        break;
    }
  }

  private messageFor(record: ChunkRecord): Message {
    let i = this.index.get(record.messageId);
    if (i === undefined) {
      i = this.messages.length;
      this.index.set(record.messageId, i);
      this.messages.push({
        id: record.messageId,
        role: record.role,
        actorId: record.actorId,
        text: "",
        status: "streaming",
        error: null,
        createdAt: record.createdAt,
      });
    }
    return this.messages[i];
  }
}
