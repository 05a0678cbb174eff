import { defineConfig } from "vite";

// Tauri loads ui/dist in production and the dev server at http://localhost:1420
// (tauri.conf.json's devUrl), so the port must be exactly that.
export default defineConfig({
  clearScreen: false,
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: { port: 1420, strictPort: true, host: "localhost", watch: { ignored: ["**/test-results/**"] } },
  preview: { port: 1420, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: ["es2021", "chrome105", "safari15"],
    sourcemap: false,
    // No inline scripts or styles: the app runs under a CSP without 'unsafe-inline'.
    assetsInlineLimit: 0,
  },
});
