import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import type { UserDetail as UserDetailShape } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { ErrorBox } from "../components/ErrorBox";
import { FileTable } from "../components/FileTable";
import { UNOWNED } from "../owners";
import { BackendLink, TeamLink } from "../components/Links";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { user as opening } from "../opening";
import { useApi } from "../useApi";

type Owned = UserDetailShape["owned"][number];
type Read = UserDetailShape["reads"][number];

const ownedColumns = (userId: string): Column<Owned>[] => [
  { header: "Backend", cell: (o) => <BackendLink backend={o.backend} /> },
  { header: "Files", num: true, cell: (o) => formatCount(o.file_count) },
  { header: "Size", num: true, cell: (o) => <Size bytes={o.total_bytes} /> },
  {
    header: null,
    cell: (o) => (
      <Link to={`/stale?backend=${encodeURIComponent(o.backend)}&owner=${encodeURIComponent(userId)}`}>stale files</Link>
    ),
  },
];

const READ_COLUMNS: Column<Read>[] = [
  { header: "Backend", cell: (r) => <BackendLink backend={r.backend} /> },
  { header: "Reads", num: true, cell: (r) => formatCount(r.read_count) },
  { header: "Bytes read", num: true, cell: (r) => <Size bytes={r.bytes_read} /> },
  { header: "Last access (UTC)", cell: (r) => formatTime(r.last_access) },
];

/** Everything one user owns and reads, across backends. */
export function UserDetail() {
  const userId = useParams().userId ?? "";
  const navigate = useNavigate();
  const [input, setInput] = useState(userId);
  return (
    <>
      <h1>User {userId}</h1>
      <form
        className="inline"
        onSubmit={(e) => {
          e.preventDefault();
          if (input.trim()) navigate(`/users/${encodeURIComponent(input.trim())}`);
        }}
      >
        <label>
          User id
          <input name="user" value={input} onChange={(e) => setInput(e.target.value)} />
        </label>
        <button type="submit">Show</button>
      </form>
      {userId ? <UserReport key={userId} userId={userId} /> : <p className="muted">Enter a user id, or pick one from the <Link to="/users">users list</Link>.</p>}
    </>
  );
}

function UserReport({ userId }: { userId: string }) {
  const user = useApi(opening(userId).user, [userId]);
  const u = user.data;
  const ownedTotal = u?.owned.reduce((s, o) => s + o.total_bytes, 0) ?? 0;
  return (
    <>
      <ErrorBox error={user.error} />
      {user.loading && !u && !user.error && (
        <p className="muted" role="status" data-testid="loading">
          Loading {userId}…
        </p>
      )}
      {u && (
        <>
          <p data-testid="user-teams">
            Teams:{" "}
            {u.teams.length ? (
              u.teams.map((t, i) => (
                <span key={t}>
                  {i > 0 && ", "}
                  <TeamLink team={t} />
                </span>
              ))
            ) : (
              <span className="muted">{userId === UNOWNED ? "files no user owns" : "none"}</span>
            )}{" "}
            · owns <Size bytes={ownedTotal} />
          </p>
          <h2>Owned</h2>
          <DataTable rows={u.owned} columns={ownedColumns(userId)} rowKey={(o) => o.backend} testId="owned-table">
            {u.owned.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  Owns nothing indexed.
                </td>
              </tr>
            )}
          </DataTable>
          <h2>Reads</h2>
          <DataTable rows={u.reads} columns={READ_COLUMNS} rowKey={(r) => r.backend} testId="reads-table">
            {u.reads.length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No reads recorded.
                </td>
              </tr>
            )}
          </DataTable>
          <h2>Largest files</h2>
          <FileTable rows={u.top_files} />
        </>
      )}
    </>
  );
}
