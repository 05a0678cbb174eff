// The conformance CLI runs vitest on the suite's dist/test-runner.js inside
// node_modules, which vitest's default include/exclude never match ("No test files
// found"). This config, in the folder the CLI runs from, includes exactly that file.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["node_modules/@durable-streams/server-conformance-tests/dist/test-runner.js"],
    exclude: [],
    testTimeout: 30_000,
  },
})
