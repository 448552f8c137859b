import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import type { Backend } from "../api";
import { type Column, DataTable } from "../components/DataTable";
import { ErrorBox } from "../components/ErrorBox";
import { GrowthChart } from "../components/GrowthChart";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { StorageChart } from "../components/StorageChart";
import { backendDetail, backendList } from "../opening";
import { useApi } from "../useApi";

const BACKEND_COLUMNS: Column<Backend>[] = [
  { header: "Backend", cell: (b) => <Link to={`/backends/${encodeURIComponent(b.name)}`}>{b.name}</Link> },
  { header: "URL", className: "path", cell: (b) => b.url },
  { header: "Size", num: true, cell: (b) => <Size bytes={b.total_bytes} /> },
  { header: "Files", num: true, cell: (b) => formatCount(b.file_count) },
  {
    header: "Last crawl",
    cell: (b) =>
      b.last_crawl ? `${b.last_crawl.status}, ${formatTime(b.last_crawl.finished_at ?? b.last_crawl.started_at)}` : "never",
  },
  { header: "Covered since", cell: (b) => (b.coverage?.from_atime ? "always (atime)" : formatTime(b.coverage_since)) },
  { header: "Read evidence", cell: (b) => b.coverage?.note ?? "" },
];

/** Every configured backend: size, files, last crawl, and since when reads are covered and by what evidence. */
export function BackendList() {
  const backends = useApi(backendList().backends, []);
  return (
    <>
      <h1>Backends</h1>
      <ErrorBox error={backends.error} />
      {backends.data && (
        <DataTable rows={backends.data} columns={BACKEND_COLUMNS} rowKey={(b) => b.name} testId="backend-table" />
      )}
    </>
  );
}

const PERIODS = ["7d", "30d", "90d", "1y"];

/** One backend: usage by team, growth over a chosen period, and links into its directories and stale files. */
export function BackendDetail() {
  const name = useParams().name ?? "";
  const [period, setPeriod] = useState("30d");
  const opens = backendDetail(name);
  const usage = useApi(opens.usage, [name]);
  const growth = useApi(() => opens.growth(period), [name, period]);
  const backends = useApi(opens.backends, []);
  const coverage = backends.data?.find((b) => b.name === name)?.coverage;
  return (
    <>
      <h1>Backend {name}</h1>
      <div className="toolbar">
        <Link to={`/tree/${encodeURIComponent(name)}`}>Browse directories</Link>
        <Link to={`/stale?backend=${encodeURIComponent(name)}`}>Stale files</Link>
      </div>
      <ErrorBox error={usage.error} />
      {usage.data && (
        <>
          <div className="cards">
            <div className="card">
              <div className="label">Total</div>
              <div className="value">
                <Size bytes={usage.data.total_bytes} />
              </div>
            </div>
            <div className="card">
              <div className="label">Files</div>
              <div className="value">{formatCount(usage.data.file_count)}</div>
            </div>
          </div>
          <StorageChart items={usage.data.items} />
        </>
      )}
      {coverage && (
        <p data-testid="coverage-note">
          <strong>Stale answers rest on:</strong> {coverage.note}
          {coverage.from_atime
            ? " — covered for any period"
            : coverage.since
              ? ` — covered since ${formatTime(coverage.since)}`
              : " — not covered yet"}
        </p>
      )}
      {coverage && coverage.holes.length > 0 && (
        <div data-testid="coverage-holes">
          <strong>Holes in the read evidence</strong> (days without any imported event: logs missing? nothing before
          the last one counts until those days are imported):
          <ul>
            {coverage.holes.map((h) => (
              <li key={h.first}>
                {h.first} – {h.last} ({formatCount(h.days)} days)
              </li>
            ))}
          </ul>
        </div>
      )}
      <h2>
        Growth{" "}
        <select aria-label="period" value={period} onChange={(e) => setPeriod(e.target.value)}>
          {PERIODS.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
      </h2>
      <ErrorBox error={growth.error} />
      {growth.data && <GrowthChart points={growth.data.points} reconstructedUntil={growth.data.reconstructed_until} />}
    </>
  );
}
