import { useLayoutEffect, useState } from "preact/hooks";

/** Something whose `state` components render: the store, the assistant's settings,
 *  the offline state. */
export interface Observable<T> {
  readonly state: T;
  subscribe(listener: () => void): () => void;
}

/** Re-renders the component whenever `source` changes; returns its state. */
export function useObserved<T>(source: Observable<T>): T {
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
