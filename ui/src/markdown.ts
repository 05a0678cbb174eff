// Replies are Markdown written by a model that may repeat anything it was shown, so
// the HTML is sanitized as hostile: no scripts, no event handlers, no styles, no
// remote content of any kind (an image would tell a third party who read what), and
// links only to http(s) or mailto, opened outside the app.

import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";

const ALLOWED_TAGS = [
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s",
  "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody",
  "tr", "th", "td", "span", "sup", "sub", "kbd",
];
const ALLOWED_ATTR = ["href", "title", "class", "start", "align"];
const SAFE_LINK = /^(?:https?:|mailto:)/i;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const marked = new Marked({
  gfm: true,
  async: false,
  renderer: {
    // Images are never loaded; the reader sees what the picture was.
    image({ text }: Tokens.Image) {
      return `<span class="md-image">[image: ${escapeHtml(text || "no description")}]</span>`;
    },
    checkbox({ checked }: Tokens.Checkbox) {
      return checked ? "☑ " : "☐ ";
    },
  },
});

let hooked = false;

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.hasAttribute("class")) {
      // Only a code block's language survives; app classes could restyle the page.
      const language = (node.getAttribute("class") ?? "").split(/\s+/).find((c) => /^language-[\w+#.-]+$/.test(c));
      if (language && node.nodeName === "CODE") node.setAttribute("class", language);
      else if (!node.classList.contains("md-image")) node.removeAttribute("class");
    }
    if (node.nodeName === "A") {
      const href = node.getAttribute("href");
      if (!href || !SAFE_LINK.test(href.trim())) {
        node.removeAttribute("href");
      } else {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
  });
}

/** Markdown to HTML that is safe to put into the page. */
export function renderMarkdown(text: string): string {
  installHooks();
  const html = marked.parse(text) as string;
  return DOMPurify.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: SAFE_LINK,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    KEEP_CONTENT: true,
  });
}

/** The language a code block was labelled with, if any. */
export function codeLanguage(code: Element): string | null {
  const match = /(?:^|\s)language-(\S+)/.exec(code.getAttribute("class") ?? "");
  return match ? match[1] : null;
}

/** A streaming reply split where its settled part ends: after the last blank line
 *  outside a code fence. The settled part does not change as text arrives, so it is
 *  parsed once and only the tail is parsed again per frame. */
export function splitSettled(text: string): [settled: string, tail: string] {
  let cut = 0;
  let inFence = false;
  let lineStart = 0;
  while (lineStart <= text.length) {
    const end = text.indexOf("\n", lineStart);
    const lineEnd = end === -1 ? text.length : end;
    const line = text.slice(lineStart, lineEnd);
    if (/^\s{0,3}(```|~~~)/.test(line)) inFence = !inFence;
    else if (!inFence && end !== -1 && line.trim() === "" && lineStart > 0) cut = end + 1;
    if (end === -1) break;
    lineStart = end + 1;
  }
  return [text.slice(0, cut), text.slice(cut)];
}
