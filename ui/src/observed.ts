// What the UI's models share: a state replaced whole on every change, and listeners
// told of it (components re-render through `useObserved`).

export class Observed<S extends object> {
  private listeners = new Set<() => void>();

  constructor(public state: S) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  protected set(patch: Partial<S>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }
}
