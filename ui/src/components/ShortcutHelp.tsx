// The keyboard shortcuts overlay (`?`, or Ctrl+/ / ⌘/): every shortcut that does
// something here, with this platform's keys.

import { useEffect, useRef, useState } from "preact/hooks";
import { SHORTCUTS, isMac, keysOf, type ShortcutRegistry } from "../shortcuts";

export function ShortcutHelp({ registry, mac = isMac() }: { registry: ShortcutRegistry; mac?: boolean }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => registry.register("help", () => setOpen((was) => !was)), [registry]);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  const listed = open ? SHORTCUTS.filter((s) => registry.available(s.id)) : [];
  return (
    <dialog ref={ref} class="dialog shortcut-help" aria-labelledby="shortcut-help-title" onClose={() => setOpen(false)}>
      <h2 id="shortcut-help-title">Keyboard shortcuts</h2>
      <table class="shortcut-table">
        <tbody>
          {listed.map((s) => (
            <tr key={s.id} data-shortcut-row={s.id}>
              <th scope="row">{s.label}</th>
              <td>
                {keysOf(s, mac).map((k, i) => (
                  <kbd key={i}>{k}</kbd>
                ))}
                {s.id === "help" && (
                  <>
                    {" or "}
                    <kbd>?</kbd>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="dialog" class="dialog-actions">
        <button type="submit" class="secondary" autofocus>
          Close
        </button>
      </form>
    </dialog>
  );
}
