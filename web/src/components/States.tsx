import type { ReactNode } from "react";
import type { Loaded } from "../useApi";
import { ErrorBox } from "./ErrorBox";

/**
 * The honest states of one request: "Loading…" until the first answer, the error instead of any older result,
 * then the content (kept while a newer answer loads, marked busy by the caller).
 */
export function Loading<T>({ state, what, children }: { state: Loaded<T>; what: string; children: (data: T) => ReactNode }) {
  if (state.error) return <ErrorBox error={state.error} />;
  if (state.data === undefined)
    return (
      <p className="muted loading" role="status" data-testid="loading">
        Loading {what}…
      </p>
    );
  return <>{children(state.data)}</>;
}
