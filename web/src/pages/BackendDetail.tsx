import { useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { GrowthChart } from "../components/GrowthChart";
import { Size, formatCount, formatTime } from "../components/SizeFormat";
import { StorageChart } from "../components/StorageChart";
import { useApi } from "../useApi";

/** Every configured backend: size, files, last crawl, and since when reads are covered and by what evidence. */
export function BackendList() {
  const backends = useApi(() => api.backends(), []);
  return (
    <>
      <h1>Backends</h1>
      <ErrorBox error={backends.error} />
      {backends.data && (
        <table className="grid" data-testid="backend-table">
          <thead>
            <tr>
              <th>Backend</th>
              <th>URL</th>
              <th className="num">Size</th>
              <th className="num">Files</th>
              <th>Last crawl</th>
              <th>Covered since</th>
              <th>Read evidence</th>
            </tr>
          </thead>
          <tbody>
            {backends.data.map((b) => (
              <tr key={b.name}>
                <td>
                  <Link to={`/backends/${encodeURIComponent(b.name)}`}>{b.name}</Link>
                </td>
                <td className="path">{b.url}</td>
                <td className="num">
                  <Size bytes={b.total_bytes} />
                </td>
                <td className="num">{formatCount(b.file_count)}</td>
                <td>
                  {b.last_crawl ? `${b.last_crawl.status}, ${formatTime(b.last_crawl.finished_at ?? b.last_crawl.started_at)}` : "never"}
                </td>
                <td>{b.coverage?.from_atime ? "always (atime)" : formatTime(b.coverage_since)}</td>
                <td>{b.coverage?.note ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const PERIODS = ["7d", "30d", "90d", "1y"];

/** One backend: usage by team, growth over a chosen period, and links into its directories and stale files. */
export function BackendDetail() {
  const name = useParams().name ?? "";
  const [period, setPeriod] = useState("30d");
  const usage = useApi(() => api.usage("team", name), [name]);
  const growth = useApi(() => api.growth(name, period), [name, period]);
  const backends = useApi(() => api.backends(), []);
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
