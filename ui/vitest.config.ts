import { defineConfig, mergeConfig } from "vitest/config";
import viteConfig from "./vite.config.ts";

// Two projects: `unit` (jsdom, fast) and `e2e` (the built app in Debian's Chromium,
// driven by playwright-core). `npm test` runs both and ends with one
// "N passed, N failed" line from test/summary-reporter.ts.
export default mergeConfig(
  viteConfig,
  defineConfig({
    test: {
      // A `.only` left in a test would silently skip the rest, locally as in CI.
      allowOnly: false,
      reporters: ["default", "./test/summary-reporter.ts"],
      projects: [
        {
          extends: true,
          test: {
            name: "unit",
            environment: "jsdom",
            include: ["src/**/*.test.{ts,tsx}"],
            setupFiles: ["./test/setup-dom.ts"],
          },
        },
        {
          extends: true,
          test: {
            name: "e2e",
            environment: "node",
            include: ["e2e/**/*.e2e.ts"],
            globalSetup: ["./e2e/global-setup.ts"],
            testTimeout: 30_000,
            hookTimeout: 60_000,
            fileParallelism: false,
          },
        },
      ],
    },
  }),
);
