// The list of chats: open, start, rename, delete.

import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatInfo } from "../ipc";
import { shortcutKeys } from "../shortcuts";
import type { Store } from "../store";
import { PencilIcon, PlusIcon, TrashIcon } from "./icons";
import { SearchBox } from "./Search";
import { ImportButton } from "./Transfer";

export function sessionTitle(meta: Pick<ChatInfo, "title"> | null | undefined): string {
  return meta?.title?.trim() || "Untitled chat";
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "5 minutes ago", "yesterday", ... */
export function ago(iso: string, now = Date.now()): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Number.isNaN(seconds)) return "";
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

function RenameForm({ store, meta, done }: { store: Store; meta: ChatInfo; done: () => void }) {
  const [value, setValue] = useState(meta.title ?? "");
  const input = useRef<HTMLInputElement>(null);
  const finished = useRef(false);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  const finish = async (save: boolean) => {
    if (finished.current) return;
    finished.current = true;
    if (save && value.trim() && value.trim() !== (meta.title ?? "")) await store.renameSession(meta.sessionId, value);
    done();
  };
  return (
    <form
      class="rename"
      onSubmit={(e) => {
        e.preventDefault();
        void finish(true);
      }}
    >
      <input
        ref={input}
        value={value}
        maxLength={200}
        aria-label={`New title for ${sessionTitle(meta)}`}
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            void finish(false);
          }
        }}
        onBlur={() => void finish(true)}
      />
    </form>
  );
}

function SessionItem({ store, meta, active, onDelete }: {
  store: Store; meta: ChatInfo; active: boolean; onDelete: (meta: ChatInfo) => void;
}) {
  const [renaming, setRenaming] = useState(false);
  const title = sessionTitle(meta);
  const renameButton = useRef<HTMLButtonElement>(null);
  if (renaming) {
    return (
      <li class="session-item">
        <RenameForm
          store={store}
          meta={meta}
          done={() => {
            setRenaming(false);
            requestAnimationFrame(() => renameButton.current?.focus());
          }}
        />
      </li>
    );
  }
  return (
    <li class={`session-item${active ? " active" : ""}`}>
      <button
        type="button"
        class="session-open"
        aria-current={active ? "page" : undefined}
        onClick={() => void store.openSession(meta.sessionId)}
      >
        <span class="session-title">{title}</span>
        <span class="session-time">{ago(meta.lastActivityAt)}</span>
      </button>
      <span class="session-actions">
        <button ref={renameButton} type="button" class="icon" aria-label={`Rename ${title}`} title="Rename" onClick={() => setRenaming(true)}>
          <PencilIcon />
        </button>
        <button type="button" class="icon danger" aria-label={`Delete ${title}`} title="Delete" onClick={() => onDelete(meta)}>
          <TrashIcon />
        </button>
      </span>
    </li>
  );
}

function DeleteDialog({ store, meta, close }: { store: Store; meta: ChatInfo | null; close: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (meta && dialog && !dialog.open) dialog.showModal();
    if (!meta && dialog?.open) dialog.close();
  }, [meta]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="delete-title" onClose={close}>
      <h2 id="delete-title">Delete “{sessionTitle(meta)}”?</h2>
      <p>The chat and its messages are deleted on every device. This can't be undone.</p>
      <form method="dialog" class="dialog-actions">
        <button type="submit" class="secondary" autofocus>
          Cancel
        </button>
        <button
          type="button"
          class="danger-button"
          onClick={async () => {
            if (meta) await store.deleteSession(meta.sessionId);
            close();
          }}
        >
          Delete
        </button>
      </form>
    </dialog>
  );
}

export function Sidebar({
  store,
  sessions,
  listed,
  activeId,
}: {
  store: Store;
  sessions: ChatInfo[];
  listed: boolean;
  activeId: string | null;
}) {
  const [deleting, setDeleting] = useState<ChatInfo | null>(null);
  return (
    <nav class="sidebar" aria-label="Chats">
      <SearchBox store={store} />
            <button type="button" class="primary new-chat" title={`New chat (${shortcutKeys("new-chat")})`} onClick={() => void store.newChat()}>
        <PlusIcon /> New chat
      </button>
      {sessions.length === 0 && !listed ? (
        <p class="muted sidebar-empty" role="status">Loading your chats…</p>
      ) : sessions.length === 0 ? (
        <p class="muted sidebar-empty">No chats yet.</p>
      ) : (
        <ul class="session-list" aria-label="Your chats">
          {sessions.map((meta) => (
            <SessionItem key={meta.sessionId} store={store} meta={meta} active={meta.sessionId === activeId} onDelete={setDeleting} />
          ))}
        </ul>
      )}
      <ImportButton store={store} />
      <DeleteDialog store={store} meta={deleting} close={() => setDeleting(null)} />
    </nav>
  );
}
