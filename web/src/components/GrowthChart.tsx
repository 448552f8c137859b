import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from "recharts";
import type { GrowthPoint } from "../api";
import { byteTicks, formatBytes, formatTick } from "./SizeFormat";

/** Daily total bytes, with bytes added and removed that day, over the chosen period. */
export function GrowthChart({ points }: { points: GrowthPoint[] }) {
  if (points.length === 0) return <p className="muted">No growth history for this period yet.</p>;
  const ticks = byteTicks(Math.max(...points.map((p) => Math.max(p.total_bytes, p.added_bytes, p.removed_bytes))));
  return (
    <div className="chart" data-testid="growth-chart">
      <LineChart responsive style={{ width: "100%", height: 280 }} data={points} margin={{ left: 20, right: 30 }}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="date" />
        <YAxis ticks={ticks} domain={[0, ticks[ticks.length - 1]]} tickFormatter={formatTick} width={80} />
        <Tooltip formatter={(v) => formatBytes(Number(v))} />
        <Legend />
        <Line type="linear" dataKey="total_bytes" name="total" stroke="#3b6ea5" dot={false} isAnimationActive={false} />
        <Line type="linear" dataKey="added_bytes" name="added" stroke="#4e9a5b" dot={false} isAnimationActive={false} />
        <Line type="linear" dataKey="removed_bytes" name="removed" stroke="#b5485a" dot={false} isAnimationActive={false} />
      </LineChart>
    </div>
  );
}
