// Human-readable sizes and times. Binary units (KiB, MiB, …) with the "i" spelled out, so a reader never
// wonders whether 1 TB means 10^12 or 2^40 bytes; the exact byte count is in the tooltip. A quota is shown in
// the unit family its limits were typed in (500 TB stays 500 TB). The rule is schemas/units.py's (format_size,
// family_of), ported here; both are tested against the same examples (schemas/units.cases.json).

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

export type SizeFamily = "binary" | "decimal";

export function formatBytes(bytes: number | null | undefined, family: SizeFamily | null = "binary"): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const fam = family ?? familyOf(bytes);
  const base = fam === "decimal" ? 1000 : 1024;
  const units = fam === "decimal" ? DECIMAL_UNITS : UNITS;
  const sign = bytes < 0 ? "-" : "";
  let v = Math.abs(bytes);
  let u = 0;
  while (v >= base && u < units.length - 1) {
    v /= base;
    u++;
  }
  if (u === 0) return `${sign}${v} B`;
  // Three significant digits: 1.23 GiB, 12.3 GiB, 123 GiB.
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${sign}${v.toFixed(digits)} ${units[u]}`;
}

/** Significant digits of `n` written exactly in its unit of `family` (500·10¹² → 1 in TB; 1.5·2⁴⁰ → 2 in TiB). */
function exactDigits(n: number, family: SizeFamily): number {
  let b = BigInt(Math.round(Math.abs(n)));
  if (b === 0n) return 0;
  const stripped = (x: bigint) => x.toString().replace(/0+$/, "").length;
  if (family === "decimal") return stripped(b); // dividing by 1000^k only moves the decimal point
  let unit = 0n;
  while (unit < 6n && b >= 1n << (10n * (unit + 1n))) unit++;
  const power = 10n * unit;
  let twos = 0n;
  while (((b >> twos) & 1n) === 0n) twos++;
  // n / 2^power = (n >> twos) · 5^(power − twos) / 10^(power − twos) when power > twos.
  b = power <= twos ? b >> power : (b >> twos) * 5n ** (power - twos);
  return stripped(b);
}

/** The unit family sizes were most likely typed in: the one that writes them shortest (binary on a tie). */
export function familyOf(...sizes: (number | null | undefined)[]): SizeFamily {
  const known = sizes.filter((n): n is number => n !== null && n !== undefined && Number.isFinite(n));
  const sum = (f: SizeFamily) => known.reduce((acc, n) => acc + exactDigits(n, f), 0);
  return sum("decimal") < sum("binary") ? "decimal" : "binary";
}

export function Size({ bytes, family = "binary" }: { bytes: number | null | undefined; family?: SizeFamily | null }) {
  return (
    <span title={bytes === null || bytes === undefined ? "" : `${bytes.toLocaleString("en")} bytes`}>{formatBytes(bytes, family)}</span>
  );
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
