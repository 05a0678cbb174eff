import { describe, expect, it } from "vitest";
import { renderMarkdown, splitSettled } from "./markdown";

function dom(markdown: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = renderMarkdown(markdown);
  return div;
}

describe("renderMarkdown", () => {
  it("renders code blocks with their language, and inline Markdown", () => {
    const div = dom("Some **bold** and `code`.\n\n```rust\nfn main() {}\n```");
    expect(div.querySelector("strong")?.textContent).toBe("bold");
    const block = div.querySelector("pre > code");
    expect(block?.className).toBe("language-rust");
    expect(block?.textContent).toBe("fn main() {}\n");
  });

  it("removes scripts, event handlers and styles", () => {
    const html = renderMarkdown(
      'Hi <script>alert(1)</script><b onclick="alert(2)" style="background:url(https://t.example/x)">x</b>' +
        '<svg onload="alert(3)"></svg><iframe src="https://evil.example"></iframe><form action="https://e.example"><input></form>',
    );
    expect(html).not.toMatch(/script|onclick|onload|alert|style=|iframe|svg|<form|<input/i);
  });

  it("never loads images, remote or inline", () => {
    const div = dom('![a tracker](https://t.example/pixel.png) <img src="https://t.example/p.gif" onerror="alert(1)"> <img src="data:image/png;base64,AAAA">');
    expect(div.querySelector("img")).toBeNull();
    expect(div.innerHTML).not.toMatch(/t\.example|onerror|data:/);
    expect(div.querySelector(".md-image")?.textContent).toBe("[image: a tracker]");
  });

  it("keeps only http(s) and mailto links, opened outside with no referrer", () => {
    const div = dom("[ok](https://example.com/a) [mail](mailto:a@b.c) [bad](javascript:alert(1)) [file](file:///etc/passwd) <a href=\"data:text/html,x\">d</a>");
    const links = [...div.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.com/a", "mailto:a@b.c", null, null, null]);
    expect(links[0].getAttribute("rel")).toBe("noopener noreferrer nofollow");
    expect(links[0].getAttribute("target")).toBe("_blank");
    expect(div.innerHTML).not.toMatch(/javascript:|file:|data:/);
  });

  it("drops app class names but keeps a code language", () => {
    const div = dom('<span class="banner dialog">x</span>\n\n```js onclick\nx\n```');
    expect(div.querySelector("span")?.hasAttribute("class")).toBe(false);
    expect(div.querySelector("code")?.className).toBe("language-js");
  });

  it("renders half-written Markdown while it streams", () => {
    expect(() => renderMarkdown("```py\nprint(")).not.toThrow();
    expect(dom("```py\nprint(").querySelector("code")?.textContent).toBe("print(\n");
  });
});

describe("splitSettled", () => {
  it("cuts after the last blank line outside a code fence", () => {
    expect(splitSettled("one\n\ntwo")).toEqual(["one\n\n", "two"]);
    expect(splitSettled("one\n\ntwo\n\nthr")).toEqual(["one\n\ntwo\n\n", "thr"]);
    expect(splitSettled("just text")).toEqual(["", "just text"]);
    const fence = "intro\n\n```ts\nconst a = 1;\n\nconst b = 2;\n";
    expect(splitSettled(fence)).toEqual(["intro\n\n", "```ts\nconst a = 1;\n\nconst b = 2;\n"]);
    expect(splitSettled(fence + "```\n\nafter")).toEqual([fence + "```\n\n", "after"]);
  });

  it("renders the same as the whole once both parts are joined", () => {
    const text = "# Title\n\nSome *text*.\n\n- a\n- b\n\n```py\nx = 1\n```\n\nEnd";
    const [settled, tail] = splitSettled(text);
    expect(renderMarkdown(settled) + renderMarkdown(tail)).toBe(renderMarkdown(text));
  });
});
