import type { Quota } from "../api";
import { formatBytes } from "./SizeFormat";

/** Milliseconds between quota refreshes on the Overview and Quotas pages (polling: levels change without a reload). */
export const QUOTA_REFRESH_MS = 5000;

/** Usage as a share of the hard limit (may pass 100 %). */
export function usedShare(q: Quota): number {
  return q.hard_limit > 0 ? (100 * q.usage_bytes) / q.hard_limit : q.usage_bytes > 0 ? Infinity : 0;
}

/** "over hard" / "over soft" / "" from the sizes themselves (the level column says what the workers last decided). */
export function overLimit(q: Quota): "hard" | "soft" | "" {
  return q.usage_bytes > q.hard_limit ? "hard" : q.usage_bytes > q.soft_limit ? "soft" : "";
}

/** A quota's usage as a bar of its hard limit, with the soft limit marked; amber past soft, red past hard. */
export function QuotaBar({ q }: { q: Quota }) {
  const share = usedShare(q);
  const soft = q.hard_limit > 0 ? Math.min(100, (100 * q.soft_limit) / q.hard_limit) : 0;
  const over = overLimit(q);
  const f = q.unit_family;
  const pct = Number.isFinite(share) ? `${share.toFixed(1)}%` : "∞";
  return (
    <div className="quota-bar" data-over={over || "none"}>
      <div
        className={`bar quota ${over}`}
        role="meter"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Number.isFinite(share) ? Math.round(share) : 100}
        aria-label={`${pct} of the hard limit`}
        title={`${formatBytes(q.usage_bytes, f)} used of ${formatBytes(q.hard_limit, f)} hard (soft ${formatBytes(q.soft_limit, f)})`}
      >
        <span style={{ width: `${Math.min(100, Number.isFinite(share) ? share : 100)}%` }} />
        <i className="soft-mark" style={{ left: `${soft}%` }} title={`soft limit ${formatBytes(q.soft_limit, f)}`} />
      </div>
      <span className="pct">{pct}</span>
    </div>
  );
}
