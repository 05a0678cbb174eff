import { useLayoutEffect, useState } from "preact/hooks";
import type { Observed } from "../observed";

/** Re-renders the component whenever `source` changes; returns its state. */
export function useObserved<T extends object>(source: Observed<T>): T {
  const [, setVersion] = useState(0);
  const rendered = source.state;
  useLayoutEffect(() => {
    const update = () => setVersion((n) => n + 1);
    const unsubscribe = source.subscribe(update);
    // The source may have changed between this render and the subscription.
    if (source.state !== rendered) update();
    return unsubscribe;
  }, [source]);
  return source.state;
}
