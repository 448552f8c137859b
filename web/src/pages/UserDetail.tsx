import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { FileTable } from "../components/FileTable";
import { UNOWNED } from "../owners";
import { BackendLink, TeamLink } from "../components/Links";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { useApi } from "../useApi";

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
  const user = useApi(() => api.user(userId), [userId]);
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
          <table className="grid" data-testid="owned-table">
            <thead>
              <tr>
                <th>Backend</th>
                <th className="num">Files</th>
                <th className="num">Size</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {u.owned.map((o) => (
                <tr key={o.backend}>
                  <td>
                    <BackendLink backend={o.backend} />
                  </td>
                  <td className="num">{formatCount(o.file_count)}</td>
                  <td className="num">
                    <Size bytes={o.total_bytes} />
                  </td>
                  <td>
                    <Link to={`/stale?backend=${encodeURIComponent(o.backend)}&owner=${encodeURIComponent(userId)}`}>stale files</Link>
                  </td>
                </tr>
              ))}
              {u.owned.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    Owns nothing indexed.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h2>Reads</h2>
          <table className="grid" data-testid="reads-table">
            <thead>
              <tr>
                <th>Backend</th>
                <th className="num">Reads</th>
                <th className="num">Bytes read</th>
                <th>Last access (UTC)</th>
              </tr>
            </thead>
            <tbody>
              {u.reads.map((r) => (
                <tr key={r.backend}>
                  <td>
                    <BackendLink backend={r.backend} />
                  </td>
                  <td className="num">{formatCount(r.read_count)}</td>
                  <td className="num">
                    <Size bytes={r.bytes_read} />
                  </td>
                  <td>{formatTime(r.last_access)}</td>
                </tr>
              ))}
              {u.reads.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No reads recorded.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <h2>Largest files</h2>
          <FileTable rows={u.top_files} />
        </>
      )}
    </>
  );
}
