import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from "recharts";
import type { UsageItem } from "../api";
import { UNOWNED } from "../owners";
import { backendColor } from "./palette";
import { byteTicks, formatBytes, formatTick } from "./SizeFormat";


export interface TeamBar {
  team: string;
  total: number;
  [backend: string]: string | number;
}

/** Pivots usage rows (team x backend) into one bar per team, stacked by backend, largest team first. */
export function pivotByTeam(items: UsageItem[]): { bars: TeamBar[]; backends: string[] } {
  const byTeam = new Map<string, TeamBar>();
  const backends = new Set<string>();
  for (const it of items) {
    const team = it.team ?? UNOWNED;
    const backend = it.backend ?? "all";
    backends.add(backend);
    const bar = byTeam.get(team) ?? { team, total: 0 };
    bar[backend] = ((bar[backend] as number | undefined) ?? 0) + it.total_bytes;
    bar.total += it.total_bytes;
    byTeam.set(team, bar);
  }
  const bars = [...byTeam.values()].sort((a, b) => b.total - a.total || a.team.localeCompare(b.team));
  return { bars, backends: [...backends].sort() };
}

export function StorageChart({ items }: { items: UsageItem[] }) {
  const { bars, backends } = pivotByTeam(items);
  if (bars.length === 0) return <p className="muted">No indexed files yet.</p>;
  const ticks = byteTicks(bars[0].total);
  return (
    <div className="chart" data-testid="team-chart">
      <BarChart
        responsive
        style={{ width: "100%", height: Math.max(260, 40 + bars.length * 28) }}
        data={bars}
        layout="vertical"
        margin={{ left: 20, right: 30 }}
      >
        <CartesianGrid strokeDasharray="3 3" horizontal={false} />
        <XAxis type="number" ticks={ticks} domain={[0, ticks[ticks.length - 1]]} tickFormatter={formatTick} />
        <YAxis type="category" dataKey="team" width={120} interval={0} />
        <Tooltip formatter={(v) => formatBytes(Number(v))} />
        <Legend />
        {backends.map((b) => (
          <Bar key={b} dataKey={b} stackId="bytes" fill={backendColor(b)} isAnimationActive={false} />
        ))}
      </BarChart>
    </div>
  );
}
