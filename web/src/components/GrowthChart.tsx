import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ReferenceLine, Tooltip, XAxis, YAxis } from "recharts";
import type { GrowthPoint } from "../api";
import { byteTicks, formatBytes, formatTick } from "./SizeFormat";

/** Daily total bytes (the cumulative line) over the chosen period, and bytes added and removed each day as bars
 * apart from it. Days before the first crawl (``reconstructedUntil``) are reconstructed from modification times:
 * drawn dashed, with the boundary marked. */
export function GrowthChart({ points, reconstructedUntil }: { points: GrowthPoint[]; reconstructedUntil?: string | null }) {
  if (points.length === 0) return <p className="muted">No growth history for this period yet.</p>;
  const boundary = reconstructedUntil && points.some((p) => p.reconstructed) ? reconstructedUntil : null;
  // Two series for the line: reconstructed up to the boundary (inclusive, so the line is continuous), measured from it.
  const data = points.map((p) => ({
    ...p,
    measured: p.reconstructed ? null : p.total_bytes,
    estimated: p.reconstructed || p.date === boundary ? p.total_bytes : null,
  }));
  const ticks = byteTicks(Math.max(...points.map((p) => p.total_bytes)));
  const barTicks = byteTicks(Math.max(...points.map((p) => Math.max(p.added_bytes, p.removed_bytes))));
  return (
    <div className="chart" data-testid="growth-chart">
      <LineChart responsive style={{ width: "100%", height: 240 }} data={data} margin={{ left: 20, right: 30 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="date" />
        <YAxis ticks={ticks} domain={[0, ticks[ticks.length - 1]]} tickFormatter={formatTick} width={80} />
        <Tooltip formatter={(v) => formatBytes(Number(v))} />
        <Legend />
        {boundary && <ReferenceLine x={boundary} stroke="#888" strokeDasharray="4 4" label="first crawl" />}
        {boundary && (
          <Line type="linear" dataKey="estimated" name="total (reconstructed from modification times)" stroke="#3b6ea5"
                strokeDasharray="5 4" dot={false} isAnimationActive={false} connectNulls={false} />
        )}
        <Line type="linear" dataKey="measured" name="total" stroke="#3b6ea5" dot={false} isAnimationActive={false} />
      </LineChart>
      <BarChart responsive style={{ width: "100%", height: 160 }} data={data} margin={{ left: 20, right: 30 }}
                data-testid="growth-bars">
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="date" />
        <YAxis ticks={barTicks} domain={[0, barTicks[barTicks.length - 1]]} tickFormatter={formatTick} width={80} />
        <Tooltip formatter={(v) => formatBytes(Number(v))} />
        <Legend />
        {boundary && <ReferenceLine x={boundary} stroke="#888" strokeDasharray="4 4" />}
        <Bar dataKey="added_bytes" name="added" fill="#4e9a5b" isAnimationActive={false} />
        <Bar dataKey="removed_bytes" name="removed" fill="#b5485a" isAnimationActive={false} />
      </BarChart>
      {boundary && (
        <p className="muted" data-testid="growth-reconstructed">
          Before {boundary} (the first crawl) totals are reconstructed from modification times: a lower bound — files
          deleted before that crawl are unknown.
        </p>
      )}
    </div>
  );
}
