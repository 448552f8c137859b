import { useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { type TreeRow, api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { useApi } from "../useApi";

const STALE_DAYS = ["30", "90", "180"];
const SORTS = ["size", "files", "stale", "name"];

/** Breadcrumb links for a prefix: each ancestor keeps the prefix's own spelling (leading slash, separators). */
export function breadcrumbs(prefix: string): { name: string; prefix: string }[] {
  const lead = prefix.startsWith("/") ? "/" : "";
  const parts = prefix.split("/").filter(Boolean);
  return parts.map((name, i) => ({ name, prefix: lead + parts.slice(0, i + 1).join("/") }));
}

/** The tree keeps modification and access times by week: show the week's first day, not a fake midnight. */
function week(ts: string | null): string {
  return ts ? formatTime(ts).slice(0, 10) : "never";
}

/** Largest owning teams of a directory as "team share" text, most first. */
function teamsText(row: TreeRow): string {
  const entries = Object.entries(row.bytes_by_team ?? {}).sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, 3).map(([t, b]) => `${t} ${formatShare(b, row.total_bytes)}`);
  return shown.join(", ") + (entries.length > 3 ? ", …" : "");
}

/** `du` for any backend: a directory and its direct children, one request per level. */
export function TreePage() {
  const backend = useParams().backend;
  const backends = useApi(() => api.backends(), []);
  if (!backend) {
    return (
      <>
        <h1>Directories</h1>
        <ErrorBox error={backends.error} />
        <ul>
          {backends.data?.map((b) => (
            <li key={b.name}>
              <Link to={`/tree/${encodeURIComponent(b.name)}`}>{b.name}</Link> <span className="muted">{b.url}</span>
            </li>
          ))}
        </ul>
      </>
    );
  }
  return <Directory backend={backend} />;
}

function Directory({ backend }: { backend: string }) {
  const [params, setParams] = useSearchParams();
  const prefix = params.get("prefix") ?? "";
  const sort = params.get("sort") ?? "size";
  const [days, setDays] = useState("90");
  const tree = useApi(() => api.tree(backend, prefix, sort), [backend, prefix, sort]);
  const t = tree.data;
  const link = (p: string) => `/tree/${encodeURIComponent(backend)}?${new URLSearchParams({ prefix: p, sort })}`;
  // The stale list filters by path prefix: "a/b/" so that a sibling "a/bc" is not included.
  const staleLink = (p: string) => `/stale?${new URLSearchParams({ backend, prefix: p ? `${p}/` : "", days })}`;
  const parentBytes = t?.self.total_bytes ?? 0;
  return (
    <>
      <h1>Directories</h1>
      <div className="breadcrumbs" data-testid="breadcrumbs">
        <Link to={link("")}>{backend}:</Link>
        {breadcrumbs(prefix).map((c) => (
          <span key={c.prefix}>
            {" / "}
            <Link to={link(c.prefix)}>{c.name}</Link>
          </span>
        ))}
      </div>
      <div className="toolbar">
        <label>
          Sort{" "}
          <select aria-label="sort" value={sort} onChange={(e) => setParams({ prefix, sort: e.target.value })}>
            {SORTS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Stale after{" "}
          <select aria-label="stale days" value={days} onChange={(e) => setDays(e.target.value)}>
            {STALE_DAYS.map((d) => (
              <option key={d} value={d}>
                {d} days
              </option>
            ))}
          </select>
        </label>
        <Link to={staleLink(prefix)}>Stale files under this directory</Link>
      </div>
      <ErrorBox error={tree.error} />
      {t && (
        <>
          <div className="cards">
            <div className="card">
              <div className="label">Size</div>
              <div className="value">
                <Size bytes={t.self.total_bytes} />
              </div>
            </div>
            <div className="card">
              <div className="label">Files</div>
              <div className="value">{formatCount(t.self.file_count)}</div>
            </div>
            <div className="card">
              <div className="label">Stale {days} days (neither read nor modified)</div>
              <div className="value">
                <Size bytes={t.self.stale_bytes?.[days] ?? 0} /> ({formatShare(t.self.stale_bytes?.[days] ?? 0, t.self.total_bytes)})
              </div>
            </div>
            <div className="card">
              <div className="label">Owners</div>
              <div>{teamsText(t.self) || "–"}</div>
            </div>
          </div>
          <table className="grid" data-testid="tree-table">
            <thead>
              <tr>
                <th>Name</th>
                <th className="num">Size</th>
                <th>Share</th>
                <th className="num">Files</th>
                <th title="stale bytes: neither read nor modified in this many days (counted to the week; the stale list is exact)">Stale {days} d</th>
                <th>Owners</th>
                <th title="the tree keeps times by week">Newest change (week)</th>
                <th title="the tree keeps times by week">Last access (week)</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {t.items.map((row) => {
                const stale = row.stale_bytes?.[days] ?? 0;
                return (
                  <tr key={row.path} data-path={row.path}>
                    <td className="path">
                      {row.is_dir ? <Link to={link(row.path)}>{row.name}/</Link> : row.name}
                    </td>
                    <td className="num">
                      <Size bytes={row.total_bytes} />
                    </td>
                    <td>
                      <div className="bar" title={formatShare(row.total_bytes, parentBytes)}>
                        <span style={{ width: `${parentBytes ? (100 * row.total_bytes) / parentBytes : 0}%` }} />
                      </div>
                    </td>
                    <td className="num">{formatCount(row.file_count)}</td>
                    <td title={`${stale.toLocaleString("en")} bytes`}>
                      <div className="bar stale">
                        <span style={{ width: `${row.total_bytes ? (100 * stale) / row.total_bytes : 0}%` }} />
                      </div>{" "}
                      {formatShare(stale, row.total_bytes)}
                    </td>
                    <td>{teamsText(row)}</td>
                    <td>{week(row.newest_modified)}</td>
                    <td>{week(row.last_access)}</td>
                    <td>
                      <Link to={staleLink(row.path)}>stale files</Link>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {t.total > t.items.length && (
            <p className="muted">
              Showing the {t.items.length} largest of {formatCount(t.total)} entries.
            </p>
          )}
        </>
      )}
    </>
  );
}
