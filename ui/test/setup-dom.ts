// jsdom has no <dialog> modality; enough of it for the components' open/close logic.
import { afterAll, afterEach } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";

if (!HTMLDialogElement.prototype.showModal) {
  HTMLDialogElement.prototype.showModal = function (this: HTMLDialogElement) {
    this.setAttribute("open", "");
  };
  HTMLDialogElement.prototype.close = function (this: HTMLDialogElement) {
    if (!this.hasAttribute("open")) return;
    this.removeAttribute("open");
    this.dispatchEvent(new Event("close"));
  };
}

afterEach(() => {
  clearMocks();
  localStorage.clear();
});

// Preact runs effects and their cleanups after paint, which in jsdom is a 100 ms timer.
// One scheduled as a test file ends would run after the file's DOM is gone ("document
// is not defined", an unhandled error that fails the run), so each file waits them out.
afterAll(() => new Promise((resolve) => setTimeout(resolve, 150)));
