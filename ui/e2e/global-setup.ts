// Builds the app as shipped (ui/dist) and the test harness, then serves dist on a
// free loopback port with the strict CSP the desktop window uses.

import { createServer, type Server } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { build } from "vite";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");
const harnessDir = join(root, "e2e", ".harness");

/** What the desktop window should enforce too (plus the IPC and server origins). */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self' ipc: http://ipc.localhost",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

// A 1x1 PNG: what a tracking pixel in a reply would fetch if the sanitizer let it.
const PIXEL = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=", "base64");

let trackerHits: string[] = [];

function serve(): Server {
  return createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname.startsWith("/tracker")) {
      trackerHits.push(url.pathname + url.search);
      res.writeHead(200, { "content-type": "image/png" }).end(PIXEL);
      return;
    }
    if (url.pathname === "/__tracker-hits") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(trackerHits));
      trackerHits = [];
      return;
    }
    const path = normalize(url.pathname === "/" ? "/index.html" : url.pathname);
    const file = join(dist, path);
    if (!file.startsWith(dist)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      const headers: Record<string, string> = { "content-type": TYPES[extname(file)] ?? "application/octet-stream" };
      // ?csp=off only for the test that checks the sanitizer on its own.
      if (extname(file) === ".html" && url.searchParams.get("csp") !== "off") headers["content-security-policy"] = CSP;
      res.writeHead(200, headers).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
}

export default async function setup(project: TestProject) {
  await build({ root, configFile: join(root, "vite.config.ts"), logLevel: "warn" });
  await build({
    root,
    configFile: false,
    logLevel: "warn",
    build: {
      outDir: harnessDir,
      emptyOutDir: true,
      minify: false,
      lib: { entry: join(root, "e2e", "harness.ts"), formats: ["iife"], name: "E2EHarness", fileName: () => "harness.js" },
    },
  });
  const server = serve();
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  project.provide("baseUrl", `http://127.0.0.1:${port}`);
  project.provide("harnessPath", join(harnessDir, "harness.js"));
  return () => new Promise<void>((done) => server.close(() => done()));
}

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    harnessPath: string;
  }
}
