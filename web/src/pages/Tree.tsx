import { useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import type { TreeRow } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { ErrorBox } from "../components/ErrorBox";
import { Size, formatCount, formatShare, formatTime } from "../components/SizeFormat";
import { treeDir, treeRoot } from "../opening";
import { useApi } from "../useApi";

const STALE_DAYS = ["30", "90", "180"];
const SORT_WORDS: Record<string, string> = { size: "largest", files: "with the most files", stale: "stalest", name: "first by name" };

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
  return backend ? <Directory backend={backend} /> : <Backends />;
}

function Backends() {
  const backends = useApi(treeRoot().backends, []);
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

/** The children's columns; `days`: the stale period shown, `link`/`staleLink`: where a row leads. */
export function treeColumns(
  days: string,
  parentBytes: number,
  link: (p: string) => string,
  staleLink: (p: string) => string,
): Column<TreeRow>[] {
  const stale = (row: TreeRow) => row.stale_bytes?.[days] ?? 0;
  return [
    {
      header: "Name",
      sortKey: "name",
      className: "path",
      cell: (row) => (row.is_dir ? <Link to={link(row.path)}>{row.name}/</Link> : row.name),
    },
    { header: "Size", sortKey: "size", num: true, cell: (row) => <Size bytes={row.total_bytes} /> },
    {
      header: "Share",
      cell: (row) => (
        <div className="bar" title={formatShare(row.total_bytes, parentBytes)}>
          <span style={{ width: `${parentBytes ? (100 * row.total_bytes) / parentBytes : 0}%` }} />
        </div>
      ),
    },
    { header: "Files", sortKey: "files", num: true, cell: (row) => formatCount(row.file_count) },
    {
      header: `Stale ${days} d`,
      sortKey: "stale",
      title: "stale bytes: neither read nor modified in this many days (counted to the week; the stale list is exact)",
      cell: (row) => (
        <>
          <div className="bar stale" title={`${stale(row).toLocaleString("en")} bytes`}>
            <span style={{ width: `${row.total_bytes ? (100 * stale(row)) / row.total_bytes : 0}%` }} />
          </div>{" "}
          {formatShare(stale(row), row.total_bytes)}
        </>
      ),
    },
    { header: "Owners", cell: teamsText },
    { header: "Newest change (week)", title: "the tree keeps times by week", cell: (row) => week(row.newest_modified) },
    { header: "Last access (week)", title: "the tree keeps times by week", cell: (row) => week(row.last_access) },
    { header: null, cell: (row) => <Link to={staleLink(row.path)}>stale files</Link> },
  ];
}

function Directory({ backend }: { backend: string }) {
  const [params, setParams] = useSearchParams();
  const prefix = params.get("prefix") ?? "";
  const sort = params.get("sort") ?? "size";
  const [days, setDays] = useState("90");
  const tree = useApi(treeDir(backend, params).tree, [backend, prefix, sort]);
  const t = tree.data;
  const link = (p: string) => `/tree/${encodeURIComponent(backend)}?${new URLSearchParams({ prefix: p, sort })}`;
  // The stale list filters by path prefix: "a/b/" so that a sibling "a/bc" is not included.
  const staleLink = (p: string) => `/stale?${new URLSearchParams({ backend, prefix: p ? `${p}/` : "", days })}`;
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
          <DataTable
            rows={t.items}
            columns={treeColumns(days, t.self.total_bytes, link, staleLink)}
            rowKey={(row) => row.path}
            rowProps={(row) => ({ "data-path": row.path })}
            testId="tree-table"
            busy={tree.loading}
            // The API sorts names A to Z, the rest largest first.
            sort={{ key: sort, desc: sort !== "name" }}
            onSort={(key) => setParams({ prefix, sort: key })}
          />
          {t.total > t.items.length && (
            <p className="muted">
              Showing the {t.items.length} {SORT_WORDS[sort] ?? "first"} of {formatCount(t.total)} entries.
            </p>
          )}
        </>
      )}
    </>
  );
}
