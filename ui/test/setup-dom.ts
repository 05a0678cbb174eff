// jsdom has no <dialog> modality; enough of it for the components' open/close logic.
import { afterEach } from "vitest";
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
