import { useLayoutEffect, useState } from "preact/hooks";
import type { State, Store } from "../store";

/** Re-renders the component whenever the store changes. */
export function useStoreState(store: Store): State {
  const [, setVersion] = useState(0);
  const rendered = store.state;
  useLayoutEffect(() => {
    const update = () => setVersion((n) => n + 1);
    const unsubscribe = store.subscribe(update);
    // The store may have changed between this render and the subscription.
    if (store.state !== rendered) update();
    return unsubscribe;
  }, [store]);
  return store.state;
}
