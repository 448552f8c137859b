// Human-readable sizes and times. Binary units (KiB, MiB, …) with the "i" spelled out, so a reader never
// wonders whether 1 TB means 10^12 or 2^40 bytes; the exact byte count is in the tooltip.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const sign = bytes < 0 ? "-" : "";
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${sign}${v} B`;
  // Three significant digits: 1.23 GiB, 12.3 GiB, 123 GiB.
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${sign}${v.toFixed(digits)} ${UNITS[u]}`;
}

export function Size({ bytes }: { bytes: number | null | undefined }) {
  return <span title={bytes === null || bytes === undefined ? "" : `${bytes.toLocaleString("en")} bytes`}>{formatBytes(bytes)}</span>;
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : n.toLocaleString("en");
}

/** A timestamp as `YYYY-MM-DD HH:MM UTC` (the API's time zone, stated), or "never". */
export function formatTime(ts: string | null | undefined): string {
  if (!ts) return "never";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Share of a part in a whole as a percentage with one decimal ("–" for an empty whole). */
export function formatShare(part: number, whole: number): string {
  if (!whole) return "–";
  return `${((100 * part) / whole).toFixed(1)}%`;
}

/**
 * Axis ticks for a byte scale that fall on round numbers of one binary unit (0, 25, 50, 75, 100 GiB), where a
 * plain numeric axis would pick round decimal byte counts and print them as 27.9 GiB, 55.9 GiB, …
 */
export function byteTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0];
  const u = Math.min(UNITS.length - 1, Math.floor(Math.log(max) / Math.log(1024)));
  const unit = 1024 ** u;
  const raw = max / unit / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * pow >= raw) ?? 10) * pow;
  const ticks = [0];
  while (ticks[ticks.length - 1] < max / unit - 1e-9) ticks.push(+(ticks.length * step).toFixed(6));
  return ticks.map((t) => t * unit);
}

/** A tick label: like formatBytes, without a meaningless ".0"/".00". */
export function formatTick(bytes: number): string {
  return formatBytes(bytes).replace(/\.0+ /, " ");
}
