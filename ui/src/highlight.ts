// Syntax highlighting of the code blocks in replies, with highlight.js's core and a
// handful of common languages (the full bundle is ten times the size). It runs on the
// sanitized DOM: highlight.js escapes the code itself and adds only `<span class>`
// elements, styled from styles.css, so the CSP (no inline styles) holds.

import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { codeLanguage } from "./markdown";

const LANGUAGES = { bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);

/** Whether a code block labelled `language` ("ts", "py", "sh", ...) gets colours. */
export function canHighlight(language: string): boolean {
  return hljs.getLanguage(language) !== undefined;
}

/** Colours a `<code>` element of rendered Markdown by its language label, once. An
 *  unknown or missing label leaves it plain (guessing would colour prose as code). */
export function highlightCode(code: HTMLElement): void {
  const language = codeLanguage(code);
  if (!language || !canHighlight(language) || code.classList.contains("hljs")) return;
  const result = hljs.highlight(code.textContent ?? "", { language, ignoreIllegals: true });
  code.innerHTML = result.value;
  code.classList.add("hljs");
}
