// Ends the run with one plain line that CI and people can read at a glance:
// "ui: N passed, N failed, N skipped".

import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      // A file that failed to load has no tests to count but must still fail the run.
      if (module.state() === "failed" && ![...module.children.allTests()].some((t) => t.result().state === "failed")) {
        failed++;
      }
    }
    failed += errors.length;
    console.log(`\nui: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
