import { useCallback, useEffect, useState } from "react";

export interface Loaded<T> {
  data?: T;
  error?: Error;
  /** True from the very render in which `deps` changed until their answer arrives (old data stays shown). */
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change (or on `reload()`); a stale answer never overwrites a newer one. */
export function useApi<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const run = useCallback(load, deps);
  const [tick, setTick] = useState(0);
  const [state, setState] = useState<{ data?: T; error?: Error; run?: () => Promise<T>; tick?: number }>({});
  useEffect(() => {
    let current = true;
    run().then(
      (data) => current && setState({ data, run, tick }),
      // An error replaces the older result: nothing stale stays on screen under it.
      (error: Error) => current && setState({ error, run, tick }),
    );
    return () => {
      current = false;
    };
  }, [run, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const loading = state.run !== run || state.tick !== tick;
  return { data: state.data, error: loading ? undefined : state.error, loading, reload };
}

/** Calls `reload` every `ms` milliseconds while the page is shown (levels and usage change without a reload). */
export function usePolling(reload: () => void, ms: number): void {
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") reload();
    }, ms);
    return () => window.clearInterval(timer);
  }, [reload, ms]);
}
