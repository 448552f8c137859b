import { ApiError } from "../api";

/** One readable line for a failed request; says which parameter was wrong when the API names it. */
export function ErrorBox({ error }: { error: Error | undefined }) {
  if (!error) return null;
  // The API's messages usually start with the parameter's name already; only add it when they do not.
  const param = error instanceof ApiError ? error.param : undefined;
  const where = param && !error.message.includes(param) ? ` (${param})` : "";
  const status = error instanceof ApiError && error.status ? `${error.status}: ` : "";
  return (
    <div className="error" role="alert">
      {status}
      {error.message}
      {where}
    </div>
  );
}
