import { api, lists, trash } from "./api";
import type { SortKey } from "./components/FileTable"; // a type only: no code of the file table

// The requests each page makes as it opens, one definition per page: the page calls these functions, and the router
// (App.tsx, <Opening>) calls them too, the moment a page is navigated to, so the answers are on their way while the
// page's code chunk is still loading (api.ts: startEarly). Each is a function of the route's parameters; a function's
// own argument (a period, a page) is the one a user may change later, with the page's opening value as its default.

/** A page's opening requests from its route: path parameters and the query string. */
export type Opening = (params: Readonly<Record<string, string | undefined>>, search: URLSearchParams) => Record<string, () => Promise<unknown>>;

export const STALE_PAGE = 100;
export const USERS_PAGE = 100;
export const MARKS_PAGE = 200;

export const overview = () => ({
  usage: () => api.usage("team", "all"),
  stale: () => api.stale({ days: "90", limit: 1 }),
  growth: () => api.growth("all", "31d"),
  backends: () => api.backends(),
  quotas: () => api.quotas(),
});

export const backendList = () => ({ backends: () => api.backends() });

export const backendDetail = (name: string) => ({
  usage: () => api.usage("team", name),
  growth: (period = "30d") => api.growth(name, period),
  backends: () => api.backends(),
});

export const treeRoot = () => ({ backends: () => api.backends() });

/** A directory of the tree: `prefix` and `sort` come from the query string. */
export const treeDir = (backend: string, search: URLSearchParams) => ({
  tree: () => api.tree(backend, search.get("prefix") ?? "", search.get("sort") ?? "size"),
});

/** The stale list's query from its URL: sent as typed (a bad value comes back as the API's 400 naming it). */
export function staleQuery(search: URLSearchParams) {
  return {
    days: search.get("days") ?? "90",
    min_size: search.get("min_size") ?? undefined,
    backend: search.get("backend") ?? undefined,
    owner: search.get("owner") ?? undefined,
    prefix: search.get("prefix") ?? undefined,
    sort: (search.get("sort") ?? "size") as SortKey,
    order: (search.get("order") ?? "desc") as "asc" | "desc",
    offset: search.get("offset") ?? undefined,
  };
}

export const stale = (search: URLSearchParams) => ({
  stale: () => api.stale({ ...staleQuery(search), limit: STALE_PAGE }),
  backends: () => api.backends(),
});

export const marks = () => ({
  marks: (q: { owner?: string; read_since_mark?: string; offset?: number } = {}) =>
    lists.marksFiltered({ owner: q.owner, read_since_mark: q.read_since_mark, limit: MARKS_PAGE, offset: q.offset ?? 0 }),
  trash: () => trash.list({ limit: 20 }),
});

export const USER_SORTS = { size: "Storage owned", reads: "Bytes read (30 days)", name: "Name" } as const;

/** The users list's query from its URL. */
export function usersQuery(search: URLSearchParams) {
  const sort = (search.get("sort") ?? "size") as keyof typeof USER_SORTS;
  return { search: search.get("search") ?? "", sort, offset: Number(search.get("offset") ?? 0) || 0 };
}

export const users = (search: URLSearchParams) => ({
  users: () => {
    const q = usersQuery(search);
    return lists.usagePage({
      group_by: "user",
      per_backend: "false",
      search: q.search || undefined,
      sort: q.sort,
      order: q.sort === "name" ? "asc" : "desc",
      limit: USERS_PAGE,
      offset: q.offset,
    });
  },
});

export const user = (userId: string) => ({ user: () => api.user(userId) });

export const teamList = () => ({
  teams: () => lists.usagePage({ group_by: "team", per_backend: "false", limit: 1000 }),
});

export const teamDetail = (team: string) => ({
  usage: () => lists.usagePage({ group_by: "team", team, limit: 1000 }),
  members: () => lists.usagePage({ group_by: "user", team, per_backend: "false", limit: 1000 }),
  memberships: () => lists.members(team),
  growth: (period = "30d") => api.growth("all", period, team),
  stale: () => api.stale({ owner: team, limit: 1 }),
  quotas: () => api.quotas(),
});

export const quotas = () => ({ quotas: () => api.quotas(), backends: () => api.backends() });

export const status = () => ({
  agents: () => lists.agents(),
  backends: () => api.backends(),
  jobs: () => lists.jobs({ limit: 50 }),
  deadLetters: () => lists.deadLetters(),
});
