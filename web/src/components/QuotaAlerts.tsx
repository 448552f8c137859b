import { Link } from "react-router-dom";
import { overview } from "../opening";
import { usePolling, useApi } from "../useApi";
import { ErrorBox } from "./ErrorBox";
import { TeamLink } from "./Links";
import { QUOTA_REFRESH_MS, QuotaBar, overLimit, usedShare } from "./QuotaBar";
import { formatBytes } from "./SizeFormat";

/**
 * The Overview's quota block, self-contained: teams over a limit first (hard, then soft, fullest first) with their
 * usage bars, refreshed every few seconds; a single line when every team is within its quotas.
 */
export function QuotaAlerts() {
  const quotas = useApi(overview().quotas, []);
  usePolling(quotas.reload, QUOTA_REFRESH_MS);
  if (quotas.error && !quotas.data) return <ErrorBox error={quotas.error} />;
  if (!quotas.data || quotas.data.length === 0) return null;
  const rank = { hard: 0, soft: 1, "": 2 };
  const over = quotas.data
    .filter((q) => overLimit(q) || (q.level && q.level !== "ok"))
    .sort((a, b) => rank[overLimit(a)] - rank[overLimit(b)] || usedShare(b) - usedShare(a));
  if (over.length === 0)
    return (
      <p className="muted" data-testid="quota-alerts-ok">
        Every team is within its quotas ({quotas.data.length} quota{quotas.data.length === 1 ? "" : "s"};{" "}
        <Link to="/quotas">details</Link>).
      </p>
    );
  return (
    <section className="quota-alerts over" data-testid="quota-alerts" aria-live="polite">
      <h2>
        Teams over a quota limit <Link to="/quotas">(all quotas)</Link>
      </h2>
      <table className="grid">
        <tbody>
          {over.map((q) => {
            const f = q.unit_family;
            const limit = overLimit(q) || q.level;
            return (
              <tr key={`${q.team}:${q.backend ?? ""}`} data-team={q.team} data-backend={q.backend ?? "all"}>
                <td>
                  <TeamLink team={q.team} />
                </td>
                <td>{q.backend ?? "all backends"}</td>
                <td>
                  <span className={`badge level-${limit}`}>over {limit}</span>
                  {limit === "hard" && <span className="muted"> writes refused</span>}
                </td>
                <td className="num">
                  {formatBytes(q.usage_bytes, f)} / {formatBytes(q.soft_limit, f)} / {formatBytes(q.hard_limit, f)}
                </td>
                <td>
                  <QuotaBar q={q} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
