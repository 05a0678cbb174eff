// Opening the built app in Debian's Chromium with the fake shell installed.

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, inject } from "vitest";
import type { FakeShell, Scenario } from "../test/fake-shell";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-quic",
];
export const RESULTS = resolve(import.meta.dirname, "..", "test-results");
mkdirSync(RESULTS, { recursive: true });

/** Playwright starts Chromium with a fresh temporary user-data dir and removes it on close. */
export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

export interface OpenApp {
  page: Page;
  context: BrowserContext;
  /** Errors the page logged or threw; a test ends by checking there were none. */
  problems: string[];
  /** Runs a self-contained function against the fake shell inside the page. */
  shell<T, A = undefined>(fn: (shell: FakeShell, arg: A) => T | Promise<T>, arg?: A): Promise<T>;
  cspViolations(): Promise<string[]>;
  screenshot(name: string): Promise<string>;
}

export async function openApp(
  browser: Browser,
  scenario: Scenario,
  options: { colorScheme?: "light" | "dark"; csp?: boolean } = {},
): Promise<OpenApp> {
  const context = await browser.newContext({
    colorScheme: options.colorScheme ?? "light",
    viewport: { width: 1100, height: 720 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript((s) => {
    (window as unknown as { __E2E_SCENARIO__: unknown }).__E2E_SCENARIO__ = s;
  }, scenario);
  await page.addInitScript({ path: inject("harnessPath") });
  await page.goto(`${inject("baseUrl")}/${options.csp === false ? "?csp=off" : ""}`);
  return {
    page,
    context,
    problems,
    // A string expression runs through the DevTools protocol, outside the page's CSP.
    shell: (fn, arg) => page.evaluate(`(${fn.toString()})(window.__shell, ${JSON.stringify(arg ?? null)})`) as never,
    cspViolations: () => page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations),
    async screenshot(name) {
      const path = join(RESULTS, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
  };
}

/**
 * One browser for a file's tests. The returned `open` opens the app for a test; after
 * each test the app it opened is checked (no page error, no CSP violation) and closed.
 */
export function browserSuite(): (scenario: Scenario, options?: Parameters<typeof openApp>[2]) => Promise<OpenApp> {
  let browser: Browser;
  let app: OpenApp | null = null;
  beforeAll(async () => {
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    if (!app) return;
    const { problems, cspViolations, context } = app;
    const violations = await cspViolations();
    app = null;
    await context.close();
    expect(problems).toEqual([]);
    expect(violations).toEqual([]);
  });
  return async (scenario, options) => (app = await openApp(browser, scenario, options));
}

export async function trackerHits(): Promise<string[]> {
  const res = await fetch(`${inject("baseUrl")}/__tracker-hits`);
  return (await res.json()) as string[];
}
