"""Operations: jobs run by the workers and agents (move, warm, crawl), job control, and fleet status."""

from __future__ import annotations

from typing import Any

import click

from warpdrive.schemas.units import format_size

from .context import Ctl, examples, format_option, page_options, pass_ctl
from .errors import ApiError
from .follow import check, follow, line
from .output import Column, ago, list_items
from .params import LOCATION, Location

JOB_COLUMNS = [
    Column("job_id", "JOB"), Column("kind", "KIND"), Column("state", "STATE"),
    Column("progress", "PROGRESS", get=lambda r: line(r).partition(": ")[2] or None),
    Column("created_at", "CREATED", "time"), Column("updated_at", "UPDATED", "time"), Column("error", "ERROR"),
]
JOB_CSV_COLUMNS = [Column(k, k) for k in ("job_id", "kind", "state", "args", "progress", "error", "created_by",
                                           "created_at", "updated_at")]


def submit(ctl: Ctl, kind: str, args_list: list[dict[str, Any]], wait: bool) -> None:
    """POST /api/v1/jobs for each args, then print the jobs or follow them to their end."""
    # Unset arguments are left out: the API gives each its default and rejects null.
    submitted = [ctl.client.post("/api/v1/jobs", {"kind": kind, "args": {k: v for k, v in args.items() if v is not None}})
                 for args in args_list]
    if wait:
        submitted = [follow(ctl.client, job, err=ctl.fmt != "table") for job in submitted]
    if ctl.fmt == "json":
        ctl.emit([], [], submitted[0] if len(submitted) == 1 else submitted)
    elif ctl.fmt == "csv":
        ctl.emit(submitted, JOB_CSV_COLUMNS)
    elif not wait:  # a followed job's last line is already printed
        for job in submitted:
            click.echo(f"job {job['job_id']} {job.get('state', 'queued')} "
                       f"(follow it with: warpdrive-ctl jobs show {job['job_id']} --wait)")
    if wait:
        check(submitted)


@click.command(epilog=examples("move s3:runs/2024/ gcs:archive/runs/2024/ --dry-run",
                               "move s3:runs/2024/ckpt.pt gcs: --wait   # same path on gcs"))
@click.argument("src", type=LOCATION)
@click.argument("dst", type=LOCATION)
@click.option("--dry-run", is_flag=True, help="List what would move and how many bytes (from the index); change nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Files a --dry-run lists.")
@click.option("--wait", is_flag=True, help="Follow the job until it ends (progress bar on a terminal).")
@format_option
@pass_ctl
def move(ctl: Ctl, src: Location, dst: Location, dry_run: bool, limit: int, wait: bool) -> None:
    """Moves a file or prefix to another backend: copy, verify (size and checksum), then delete the source.

    Runs as a resumable job on the workers; the index follows through listing events. DST without a
    path keeps the source path.
    """
    backend, path = ctl.resolve(src)
    dest_backend, dest_path = ctl.resolve(dst)
    if dry_run:
        return _move_plan(ctl, backend, path, dest_backend, dest_path or path, limit)
    submit(ctl, "move", [{"backend": backend, "path": path, "dest_backend": dest_backend, "dest_path": dest_path or None}], wait)


def _move_plan(ctl: Ctl, backend: str, path: str, dest_backend: str, dest_path: str, limit: int) -> None:
    """What a move would copy, from the index: the live files under the directory, or the one file."""
    norm = path.strip("/")

    def live(prefix: str | None, n: int) -> dict[str, Any]:  # activity before now = every live file
        return ctl.client.get("/api/v1/stale", days=0, backend=backend, prefix=prefix, sort="path", order="asc", limit=n)

    # `runs/a` moves the directory runs/a/ (not runs/ab); a path that is no directory is one file.
    doc = live(f"{norm}/" if norm else None, limit)
    files, count, size = list_items(doc), doc.get("total", 0), doc.get("total_bytes", 0)
    if not count and norm:
        files = [f for f in list_items(live(norm, 1)) if f["path"] == norm]
        count, size = len(files), sum(f["size_bytes"] for f in files)
    plan = {"backend": backend, "path": path, "dest_backend": dest_backend, "dest_path": dest_path,
            "file_count": count, "total_bytes": size, "files": files}
    columns = [Column("path", "PATH"), Column("size_bytes", "SIZE", "size"), Column("last_modified", "MODIFIED", "time")]
    notes = [f"would move {count:,} files, {format_size(size)} ({size:,} bytes) "
             f"from {backend}:{path} to {dest_backend}:{dest_path}"]
    if count > len(files):
        notes.append(f"({len(files)} of {count:,} files listed; --limit for more)")
    ctl.emit(files, columns, plan, notes)


@click.command(epilog=examples("warm s3:datasets/imagenet/train/", "warm s3:datasets/imagenet/ --node gpu-07 --wait"))
@click.argument("location", type=LOCATION)
@click.option("--node", help="Only this agent's node (default: every agent).")
@click.option("--wait", is_flag=True, help="Follow the job until every agent finished.")
@format_option
@pass_ctl
def warm(ctl: Ctl, location: Location, node: str | None, wait: bool) -> None:
    """Asks agents to prefetch a file or prefix into their block cache."""
    backend, path = ctl.resolve(location)
    submit(ctl, "warm", [{"backend": backend, "path": path, "node": node}], wait)


@click.command(epilog=examples("crawl", "crawl --backend s3 --prefix datasets/ --wait"))
@click.option("--backend", help="Only this backend (default: every backend, one job each).")
@click.option("--prefix", help="Only this prefix of the backend.")
@click.option("--wait", is_flag=True, help="Follow the crawl until it finishes.")
@format_option
@pass_ctl
def crawl(ctl: Ctl, backend: str | None, prefix: str | None, wait: bool) -> None:
    """Requests a crawl now, instead of waiting for the periodic one."""
    names = [backend] if backend else [b["name"] for b in list_items(ctl.client.get("/api/v1/backends"))]
    submit(ctl, "crawl", [{"backend": name, "prefix": prefix} for name in names], wait)


@click.group(epilog=examples("jobs list", "jobs show 3f2a9c", "jobs show 3f2a9c --wait", "jobs cancel 3f2a9c"))
def jobs() -> None:
    """Jobs (move, warm, crawl): list, inspect, follow, cancel."""


@jobs.command("list", epilog=examples("jobs list", "jobs list --state running --kind move", "jobs list --format json"))
@click.option("--state", type=click.Choice(["queued", "running", "done", "failed", "cancelled"]), help="Only this state.")
@click.option("--kind", type=click.Choice(["move", "warm", "crawl"]), help="Only this kind.")
@page_options
@format_option
@pass_ctl
def jobs_list(ctl: Ctl, state: str | None, kind: str | None, limit: int, offset: int) -> None:
    """Jobs, newest first."""
    doc = ctl.client.get("/api/v1/jobs", state=state, kind=kind, limit=limit, offset=offset)
    ctl.emit(list_items(doc), JOB_CSV_COLUMNS if ctl.fmt == "csv" else JOB_COLUMNS, doc)


@jobs.command("show", epilog=examples("jobs show 3f2a9c", "jobs show 3f2a9c --wait"))
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Follow the job until it ends.")
@format_option
@pass_ctl
def jobs_show(ctl: Ctl, job_id: str, wait: bool) -> None:
    """One job: arguments, state, progress, error."""
    job = ctl.client.get(f"/api/v1/jobs/{job_id}")
    if wait:
        job = follow(ctl.client, job, err=ctl.fmt != "table")
    ctl.emit([job], JOB_CSV_COLUMNS if ctl.fmt == "csv" else [*JOB_COLUMNS, Column("args", "ARGS")], job)
    if wait:
        check([job])


@jobs.command("cancel", epilog=examples("jobs cancel 3f2a9c"))
@click.argument("job_id")
@format_option
@pass_ctl
def jobs_cancel(ctl: Ctl, job_id: str) -> None:
    """Cancels a queued or running job (a move stops after the file in flight; nothing half-copied is kept)."""
    job = ctl.client.post(f"/api/v1/jobs/{job_id}/cancel")
    ctl.say(f"job {job_id} {job.get('state', 'cancelling') if isinstance(job, dict) else 'cancelling'}", job)


def _agent_row(agent: dict[str, Any]) -> dict[str, Any]:
    """One node's line of `status`, from its latest AgentStatus heartbeat (agent/node.py)."""
    st = agent.get("status") or {}
    mounts = st.get("mounts") or []
    cache, tel = st.get("cache") or {}, st.get("telemetry") or {}
    backends = st.get("backends") or {}
    down = sorted(n for n, b in backends.items() if isinstance(b, dict) and not b.get("reachable"))
    return {
        "node_host": agent.get("node_host"), "alive": agent.get("alive"), "last_heartbeat": agent.get("last_heartbeat"),
        "mounts": ", ".join(str(m.get("mountpoint")) for m in mounts) or None,
        "mount_errors": sum(int(m.get("errors") or 0) for m in mounts),
        "cache_bytes": cache.get("bytes"), "cache_max_bytes": cache.get("max_bytes"),
        "cache_hit_rate": None if cache.get("hit_rate") is None else 100 * cache["hit_rate"],
        "queue_depth": tel.get("queue_depth"), "dropped": tel.get("dropped"), "spool_bytes": tel.get("spool_bytes"),
        "backends_ok": f"{len(backends) - len(down)}/{len(backends)}" + (f" (down: {', '.join(down)})" if down else ""),
        "jobs": len(st.get("jobs") or {}),
    }


@click.command(epilog=examples("status", "status --format json"))
@format_option
@pass_ctl
def status(ctl: Ctl) -> None:
    """Control-plane health (PostgreSQL, Kafka) and every agent: mounts, cache, telemetry, backends, heartbeat."""
    health: dict[str, Any] = {"control_plane": ctl.client.base_url}
    for probe in ("healthz", "readyz"):
        try:
            health[probe] = ctl.client.get(f"/{probe}") or {"status": "ok"}
        except ApiError as e:  # not ready is an answer here, not a failure of the command
            health[probe] = {"status": "fail", "error": str(e)}
    agents = list_items(ctl.client.get("/api/v1/agents"))
    if ctl.fmt == "json":
        return ctl.emit([], [], {"health": health, "agents": agents})
    rows = [_agent_row(a) for a in agents]
    if ctl.fmt == "csv":
        return ctl.emit(rows, [Column(k, k) for k in (rows[0] if rows else {"node_host": None})])
    columns = [Column("node_host", "NODE"), Column("alive", "ALIVE", "bool"),
               Column("last_heartbeat", "HEARTBEAT", get=lambda r: ago(r["last_heartbeat"])),
               Column("mounts", "MOUNTS"), Column("mount_errors", "ERRORS", "int"), Column("cache_bytes", "CACHE", "size"),
               Column("cache_hit_rate", "HIT RATE", "pct"), Column("queue_depth", "QUEUE", "int"),
               Column("dropped", "DROPPED", "int"), Column("spool_bytes", "SPOOL", "size"),
               Column("backends_ok", "BACKENDS OK"), Column("jobs", "JOBS", "int")]
    ready = health["readyz"]
    facts = ", ".join(f"{k}={v}" for k, v in ready.items() if isinstance(v, (str, int, float, bool)))
    click.echo(f"control plane {health['control_plane']}: {facts}")
    click.echo(f"agents: {len(rows)} ({sum(1 for r in rows if r['alive'])} alive)")
    ctl.emit(rows, columns)


COMMANDS = [move, warm, crawl, jobs, status]
