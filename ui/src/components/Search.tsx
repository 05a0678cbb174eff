// The search box at the top of the sidebar: results as one types, each opening its
// chat at the match.

import { useEffect, useRef, useState } from "preact/hooks";
import type { SearchHit } from "../ipc";
import { DEBOUNCE_MS, findInChats, openHit } from "../search";
import type { Store } from "../store";
import { sessionTitle } from "./Sidebar";

function Result({ hit, selected, onOpen }: { hit: SearchHit; selected: boolean; onOpen: () => void }) {
  const { before, matched, after } = hit.snippet;
  return (
    <li>
      <button
        type="button"
        class={`search-result${selected ? " selected" : ""}`}
        aria-current={selected ? "true" : undefined}
        onMouseDown={(e) => e.preventDefault()}
        onClick={onOpen}
      >
        <span class="search-result-title">{sessionTitle({ title: hit.chatTitle })}</span>
        <span class="search-result-snippet">
          {before}
          <mark>{matched}</mark>
          {after}
        </span>
      </button>
    </li>
  );
}

export function SearchBox({ store }: { store: Store }) {
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [selected, setSelected] = useState(0);
  const asked = useRef(0);

  useEffect(() => {
    if (!query.trim()) {
      asked.current++;
      setHits(null);
      return;
    }
    const ask = ++asked.current;
    const timer = setTimeout(() => {
      findInChats(query).then(
        (found) => {
          if (ask !== asked.current) return;
          setHits(found);
          setSelected(0);
        },
        () => ask === asked.current && setHits([]),
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [query]);

  const open = (hit: SearchHit | undefined) => {
    if (!hit) return;
    setQuery("");
    void openHit(store, hit);
  };

  return (
    <div class="search" role="search">
      <input
        type="search"
        class="search-input"
        data-shortcut="search"
        placeholder="Search chats"
        aria-label="Search chats"
        value={query}
        onInput={(e) => setQuery(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            open(hits?.[selected]);
          } else if (e.key === "Escape") setQuery("");
          else if (e.key === "ArrowDown" && hits?.length) {
            e.preventDefault();
            setSelected((selected + 1) % hits.length);
          } else if (e.key === "ArrowUp" && hits?.length) {
            e.preventDefault();
            setSelected((selected - 1 + hits.length) % hits.length);
          }
        }}
      />
      {hits && (
        <div class="search-results">
          {hits.length === 0 ? (
            <p class="muted search-empty" role="status">No chat has “{query.trim()}”.</p>
          ) : (
            <ul aria-label="Search results">
              {hits.map((hit, i) => (
                <Result
                  key={`${hit.chatId}/${hit.messageId ?? "title"}`}
                  hit={hit}
                  selected={i === selected}
                  onOpen={() => open(hit)}
                />
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}
