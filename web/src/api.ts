import type { components } from "./openapi";
// Fetch wrappers for /api/v1/* (contract: docs/api.md). Sizes are exact byte integers, timestamps RFC 3339 or null.

const TOKEN_KEY = "warpdrive.token";

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return ""; // storage disabled (private mode): work without a token
  }
}

export function setToken(token: string): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  early.clear(); // answers asked with the old token are not the new token's
}

/** An API failure in words a person can act on; `param` names the offending input when the API says so. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Turns an error response (JSON `{"error": {...}}`, or anything else) into one readable line. */
export function errorFromResponse(status: number, statusText: string, body: string): ApiError {
  let detail: { message?: string; code?: string; param?: string } | undefined;
  try {
    detail = (JSON.parse(body) as { error?: typeof detail }).error;
  } catch {
    detail = undefined;
  }
  const hint = status === 401 ? " (enter a valid API token at the top right)" : "";
  if (detail?.message) return new ApiError(status, detail.message + hint, detail.code, detail.param);
  if (status === 401) return new ApiError(status, `not authorised${hint}`);
  if (status === 403) return new ApiError(status, "forbidden: this token may only read (an admin token is needed)");
  const text = body.trim().slice(0, 200);
  return new ApiError(status, `HTTP ${status} ${statusText}${text ? `: ${text}` : ""}`);
}

type Query = Record<string, string | number | undefined | null>;

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ""}`;
}

// Answers started early (startEarly), each waiting for the page's first identical GET, by URL with its parameters in
// a fixed order (a page may name them in another).
const early = new Map<string, Promise<unknown>>();
let startingEarly = false;

const earlyKey = (path: string, query?: Query) => {
  const url = new URL(buildUrl(path, query), "http://x");
  url.searchParams.sort();
  return url.pathname + url.search;
};

/**
 * Sends the GET requests of `sends` now, for the page being navigated to, before its code has arrived: the page's
 * first identical request takes the answer instead of asking again. Answers no page took are dropped at the next start.
 * A failure is the page's to show when it asks: here it is only kept.
 */
export function startEarly(sends: Iterable<() => Promise<unknown>>): void {
  early.clear();
  startingEarly = true;
  try {
    for (const send of sends) send().catch(() => undefined);
  } finally {
    startingEarly = false;
  }
}

function request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
  if (method !== "GET") return send<T>(method, path, query, body);
  const key = earlyKey(path, query);
  if (startingEarly) {
    const answer = send<T>(method, path, query, body);
    answer.catch(() => undefined); // the page that takes it sees the failure; untaken, it is no one's error
    early.set(key, answer);
    return answer;
  }
  const answer = early.get(key) as Promise<T> | undefined;
  early.delete(key);
  return answer ?? send<T>(method, path, query, body);
}

async function send<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(buildUrl(path, query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `cannot reach the API (${(e as Error).message})`);
  }
  const text = await res.text();
  if (!res.ok) throw errorFromResponse(res.status, res.statusText, text);
  return (text ? JSON.parse(text) : undefined) as T;
}

// ---- shapes ----
// Response shapes come from the API's OpenAPI document (openapi.d.ts, generated: tests/web/test_contracts.py).

type Schemas = components["schemas"];

/** One row of /usage: a team, user or backend (which key is set follows `group_by`). */
export type UsageItem = Schemas["UsageRow"];

export type Usage = Schemas["Usage"];

export type StaleFile = Schemas["StaleFile"];

/** `total_exact`: false when counting stopped (a filter no rollup serves, past the API's budget): then
 * `total` and `total_bytes` are lower bounds; `total_basis`: rollup (exact, from the tree's or the owners' activity
 * weeks) | count |
 * bound; `scope_files`/`scope_bytes` (rollup only, else null): every live file under the filter, the share's whole;
 * `coverage`: per backend, since when read evidence exists and whether it covers the whole `days` period. */
export type StalePage = Schemas["StaleList"];

export type GrowthPoint = Schemas["GrowthPoint"];

export type Growth = Schemas["Growth"];

export type Coverage = Schemas["Coverage"];

export type UserDetail = Schemas["UserDetail"];

export type Backend = Schemas["Backend"];

export type QuotaLevel = "ok" | "soft" | "hard";

export type Quota = Schemas["Quota"];

export type TreeRow = Schemas["TreeRow"];

export type Tree = Schemas["Tree"];

export type Mark = Schemas["Mark"];

export type MarkPage = Schemas["MarkList"];

export interface FileRef {
  backend: string;
  path: string;
}

// ---- endpoints ----

export const api = {
  usage: (group_by: "team" | "user" | "backend", backend = "all") =>
    request<Usage>("GET", "/usage", { group_by, backend }),

  stale: (q: {
    days?: string;
    min_size?: string;
    backend?: string;
    owner?: string;
    prefix?: string;
    sort?: "size" | "last_access" | "last_modified" | "activity" | "path";
    order?: "asc" | "desc";
    limit?: number;
    offset?: string;
  }) => request<StalePage>("GET", "/stale", q),

  growth: (backend: string, period = "30d", team?: string) =>
    request<Growth>("GET", "/growth", { backend, period, team }),

  user: (userId: string) => request<UserDetail>("GET", `/user/${encodeURIComponent(userId)}`),

  backends: async () => (await request<{ items: Backend[] }>("GET", "/backends")).items,

  quotas: async () => (await request<{ items: Quota[] }>("GET", "/quota")).items,

  // force: set it even for a team with no members and no owned data (else 409 with param "force").
  putQuota: (q: { team: string; backend: string | null; soft: string; hard: string; force?: boolean }) =>
    request<Quota>("PUT", "/quota", undefined, q),

  deleteQuota: (team: string, backend: string | null) =>
    request<void>("DELETE", "/quota", { team, backend: backend ?? "all" }),

  marks: (q: { backend?: string; prefix?: string; limit?: number; offset?: number }) =>
    request<MarkPage>("GET", "/marks", q),

  mark: (files: FileRef[], note?: string) => request<unknown>("POST", "/marks", undefined, { files, note }),

  unmark: (files: FileRef[]) => request<unknown>("DELETE", "/marks", undefined, { files }),

  tree: (backend: string, prefix: string, sort = "size", limit = 200) =>
    request<Tree>("GET", "/tree", { backend, prefix, sort, limit }),
};

// ---- issue 20: lists at any size, status, teams and users (additive) ----

export type UsagePage = Schemas["Usage"];

export interface UsageQuery {
  group_by: "team" | "user" | "backend";
  backend?: string;
  team?: string;
  search?: string;
  per_backend?: "true" | "false";
  sort?: "size" | "files" | "reads" | "read_count" | "last_access" | "name";
  order?: "asc" | "desc";
  period?: string;
  limit?: number;
  offset?: number;
}

export interface StaleFilter {
  days?: string;
  min_size?: string;
  backend?: string;
  owner?: string;
  prefix?: string;
}

export type Agent = Schemas["Agent"];

export type Job = Schemas["Job"];

export type Membership = Schemas["Membership"];

/** A list's URL under /api/v1 (for a download link: the browser streams it to a file). */
export const exportUrl = (path: string, query: Record<string, string | number | undefined | null>) => buildUrl(path, query);

export const lists = {
  usagePage: (q: UsageQuery) => request<UsagePage>("GET", "/usage", { ...q }),
  agents: () => request<Schemas["AgentList"]>("GET", "/agents"),
  jobs: (q: { state?: string; kind?: string; limit?: number; offset?: number }) => request<Schemas["JobList"]>("GET", "/jobs", q),
  members: (team: string) => request<Schemas["TeamList"]>("GET", "/teams", { team, limit: 500 }),
  markStale: (filter: StaleFilter, expect: number, note?: string) =>
    request<Schemas["MarkFilterResult"]>("POST", "/marks/stale", undefined, {
      ...Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined && v !== "")),
      days: Number(filter.days ?? 90),
      expect,
      note: note || undefined,
    }),
  marksFiltered: (q: { backend?: string; prefix?: string; owner?: string; read_since_mark?: string; limit?: number; offset?: number }) =>
    request<MarkPage>("GET", "/marks", q),
  /** Dead letters (records the workers could not apply): the total and the count per topic. */
  deadLetters: () => request<Pick<Schemas["DeadLetterList"], "total" | "by_topic">>("GET", "/deadletters", { limit: 1 }),
};

// ---- issue 20: deletion jobs of marked files (additive) ----

export type TrashPlan = Schemas["TrashPlan"];
export type TrashFile = Schemas["TrashFile"];
export type Trash = Schemas["Trash"];

/** Which marks a deletion job takes (the Marks page's filter) and how long its trash stays restorable. */
export interface TrashFilter {
  backend?: string;
  prefix?: string;
  owner?: string;
  retention_days?: number;
}

const given = (f: TrashFilter) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== ""));

export const trash = {
  /** The dry run: exactly the files the job would move, their bytes, and the marks held back with why. */
  plan: (f: TrashFilter) => request<TrashPlan>("POST", "/marks/delete/dry-run", undefined, given(f)),
  /** Submits the job for the dry run's count and bytes (409 when the marks changed since). */
  submit: (f: TrashFilter, expect: number, expect_bytes: number) =>
    request<Job>("POST", "/marks/delete", undefined, { ...given(f), expect, expect_bytes }),
  list: (q: { limit?: number; offset?: number }) => request<Schemas["TrashList"]>("GET", "/trash", q),
  restore: (jobId: string) => request<Job>("POST", `/trash/${encodeURIComponent(jobId)}/restore`),
  purge: () => request<Job>("POST", "/trash/purge"),
};
