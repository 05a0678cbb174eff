// Bundled into one classic script and injected before the app loads (Playwright's
// addInitScript): installs the fake shell in place of Tauri's IPC and exposes it as
// window.__shell for the tests to drive.

import { FakeShell, type Scenario } from "../test/fake-shell";

declare global {
  interface Window {
    __E2E_SCENARIO__?: Scenario;
    __shell: FakeShell;
    __cspViolations: string[];
  }
}

window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
window.__shell = new FakeShell(window.__E2E_SCENARIO__ ?? {}).install();
