import { useState } from "react";
import { useSearchParams } from "react-router-dom";
import type { UsageItem } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { BackendLink, UserLink } from "../components/Links";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { Loading } from "../components/States";
import { USERS_PAGE as PAGE, USER_SORTS as SORTS, users as opening, usersQuery } from "../opening";
import { useApi } from "../useApi";

const USER_COLUMNS: Column<UsageItem>[] = [
  { header: "User", cell: (it) => <UserLink user={it.user} /> },
  { header: "Owns", num: true, cell: (it) => <Size bytes={it.total_bytes} /> },
  { header: "Files", num: true, cell: (it) => formatCount(it.file_count) },
  { header: "Reads", num: true, cell: (it) => formatCount(it.read_count) },
  { header: "Read", num: true, cell: (it) => <Size bytes={it.bytes_read} /> },
  {
    header: "Backends",
    cell: (it) =>
      (it.backends ?? []).filter(Boolean).map((b) => (
        <span key={b} className="sep">
          <BackendLink backend={b} />
        </span>
      )),
  },
  { header: "Last read (UTC)", cell: (it) => formatTime(it.last_read) },
];

/** Every user ranked by storage owned or bytes read, searchable; paged by the API, so any number of users. */
export function UserList() {
  const [params, setParams] = useSearchParams();
  const { search, sort, offset } = usersQuery(params);
  const [input, setInput] = useState(search);
  const users = useApi(opening(params).users, [search, sort, offset]);
  const set = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) if (v) next.set(k, v);
      else next.delete(k);
    if (!("offset" in changes)) next.delete("offset");
    setParams(next);
  };
  return (
    <>
      <h1>Users</h1>
      <form
        className="inline"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          set({ search: input.trim() });
        }}
      >
        <label>
          Search users
          <input name="search" value={input} onChange={(e) => setInput(e.target.value)} placeholder="name contains…" />
        </label>
        <label>
          Rank by
          <select name="sort" value={sort} onChange={(e) => set({ sort: e.target.value })}>
            {Object.entries(SORTS).map(([k, v]) => (
              <option key={k} value={k}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <Loading state={users} what="users">
        {(u) => (
          <>
            <p className="muted" data-testid="users-total">
              {formatCount(u.total)} user(s){search ? ` matching “${search}”` : ""} · own <Size bytes={u.total_bytes} /> · read{" "}
              <Size bytes={u.bytes_read} /> in the last {u.period_days} days
            </p>
            {u.items.length === 0 ? (
              <p className="muted">
                {search ? `No user's name contains “${search}”.` : "No user owns or has read anything yet."}
              </p>
            ) : (
              <DataTable
                rows={u.items}
                columns={USER_COLUMNS}
                rowKey={(it) => it.user}
                rowProps={(it) => ({ "data-user": it.user })}
                testId="users-table"
                busy={users.loading}
              />
            )}
            <div className="toolbar">
              <button type="button" disabled={offset === 0} onClick={() => set({ offset: String(Math.max(0, offset - PAGE)) })}>
                ← Prev
              </button>
              <button type="button" disabled={offset + PAGE >= u.total} onClick={() => set({ offset: String(offset + PAGE) })}>
                Next →
              </button>
            </div>
          </>
        )}
      </Loading>
    </>
  );
}
