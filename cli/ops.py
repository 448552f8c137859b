"""Operations: jobs run by the workers and agents (move, warm, crawl), job control, and fleet status."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import click

from warpdrive.schemas.jobs import KINDS, STATES
from warpdrive.schemas.units import format_size

from .context import Ctl, examples, format_option, page_options, pass_ctl
from .errors import ApiError, CtlError
from .follow import check, describe, follow, follow_nodes, line
from .output import Column, ago, list_items
from .params import LOCATION, Location

SHORT_ID = 12  # hex digits of a job id a table shows; any unique start of an id is accepted back


JOB_COLUMNS = [
    Column("job_id", "JOB", get=lambda r: str(r.get("job_id") or "")[:SHORT_ID]),
    Column("kind", "KIND"),
    Column("dry_run", "DRY RUN", "bool", lambda r: (r.get("args") or {}).get("dry_run")),
    Column("state", "STATE"),
    Column("progress", "PROGRESS", get=lambda r: line(r).partition(": ")[2] or None),
    Column("created_at", "CREATED", "time"),
    Column("updated_at", "UPDATED", "time"),
    Column("error", "ERROR"),
]
JOB_CSV_COLUMNS = [
    Column(k, k)
    for k in ("job_id", "kind", "state", "args", "progress", "error", "created_by", "created_at", "updated_at")
]


def post_job(ctl: Ctl, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    # Unset arguments are left out: the API gives each its default and rejects null.
    return ctl.client.post("/api/v1/jobs", {"kind": kind, "args": {k: v for k, v in args.items() if v is not None}})


def submit(ctl: Ctl, kind: str, args_list: list[dict[str, Any]], wait: bool) -> None:
    """POST /api/v1/jobs for each args, then print the jobs or follow them to their end."""
    submitted = [post_job(ctl, kind, args) for args in args_list]
    if wait:
        submitted = [follow(ctl.client, job, err=ctl.fmt != "table") for job in submitted]
    show_jobs(ctl, submitted, wait)


def show_jobs(ctl: Ctl, submitted: list[dict[str, Any]], wait: bool) -> None:
    """Prints the submitted jobs (in a table, a followed job's progress lines already did); after following
    them, exit 1 unless every one ended done."""
    if ctl.fmt == "json":
        ctl.emit([], [], submitted[0] if len(submitted) == 1 else submitted)
    elif ctl.fmt == "csv":
        ctl.emit(submitted, JOB_CSV_COLUMNS)
    elif not wait:  # a followed job's last line is already printed
        for job in submitted:
            click.echo(
                f"job {job['job_id']} {job.get('state', 'queued')} "
                f"(follow it with: warpdrive-ctl jobs show {job['job_id']} --wait)"
            )
    if wait:
        check(submitted)


@click.command(
    epilog=examples(
        "move s3:runs/2024/ gcs:archive/runs/2024/ --dry-run",
        "move s3:runs/2024/ gcs:archive/runs/2024/ --dry-run --format csv > plan.csv",
        "move s3:runs/2024/ckpt.pt gcs: --wait   # same path on gcs",
    )
)
@click.argument("src", type=LOCATION, metavar="SRC")
@click.argument("dst", type=LOCATION, metavar="DST")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Have a worker list the source and report what would move and how many bytes; change nothing.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Files a --dry-run lists, biggest first."
)
@click.option("--wait", is_flag=True, help="Follow the job until it ends (progress bar on a terminal).")
@format_option
@pass_ctl
def move(ctl: Ctl, src: Location, dst: Location, dry_run: bool, limit: int, wait: bool) -> None:
    """Moves a file or prefix to another backend: copy, verify (size and checksum), then delete the source.

    SRC and DST are [BACKEND:]PATH. Runs as a resumable job on the workers; the index follows through
    listing events. DST without a path keeps the source path.
    """
    backend, path = ctl.resolve(src)
    dest_backend, dest_path = ctl.resolve(dst)
    args = {"backend": backend, "path": path, "dest_backend": dest_backend, "dest_path": dest_path or None}
    if dry_run:
        return _move_plan(ctl, args, limit)
    submit(ctl, "move", [args], wait)


def _move_plan(ctl: Ctl, args: dict[str, Any], limit: int) -> None:
    """A dry-run move job: a worker lists the source as the move would (nothing is copied or deleted);
    its result has the totals and the biggest files, which are the output."""
    job = post_job(ctl, "move", {**args, "dry_run": True})
    job = follow(ctl.client, job, err=True)  # the plan is what stdout is for
    check([job])
    p = job.get("progress") or {}
    listed = p.get("files") or []
    files = listed[:limit]
    count, size = int(p.get("files_total") or 0), int(p.get("bytes_total") or 0)
    plan = {
        "job_id": job["job_id"],
        "src": p.get("src"),
        "dst": p.get("dst"),
        "file_count": count,
        "total_bytes": size,
        "files": files,
    }
    columns = [
        Column("path", "PATH"),
        Column("size_bytes", "SIZE", "size"),
        Column("last_modified", "MODIFIED", "time"),
        Column("dest_path", "DESTINATION"),
    ]
    notes = [f"would move {count:,} files, {format_size(size)} ({size:,} bytes) from {p.get('src')} to {p.get('dst')}"]
    if count > len(files):
        more = "--limit for more" if len(listed) > len(files) else f"the job lists the {len(listed)} biggest"
        notes.append(f"({len(files)} of {count:,} files listed, biggest first; {more})")
    ctl.emit(files, columns, plan, notes)


@click.command(epilog=examples("warm s3:datasets/imagenet/train/", "warm s3:datasets/imagenet/ --node gpu-07 --wait"))
@click.argument("location", type=LOCATION)
@click.option("--node", help="Only this agent's node (default: every agent).")
@click.option("--wait", is_flag=True, help="Follow the job until every live agent (or --node) finished it.")
@format_option
@pass_ctl
def warm(ctl: Ctl, location: Location, node: str | None, wait: bool) -> None:
    """Asks agents to prefetch a file or prefix into their block cache.

    With --wait, the live agents (or the --node one) must be there, and each one's run is followed to its end.
    """
    backend, path = ctl.resolve(location)
    args = {"backend": backend, "path": path, "node": node}
    if not wait:
        return submit(ctl, "warm", [args], wait)
    # Only live agents take a warm now: waiting for none would never end.
    nodes = [
        a["node_host"]
        for a in list_items(ctl.client.get("/api/v1/agents"))
        if a.get("alive") and node in (None, a.get("node_host"))
    ]
    if not nodes:
        raise CtlError(f"no live agent {f'on node {node} ' if node else ''}to warm it (see: warpdrive-ctl status)")
    job = follow(ctl.client, post_job(ctl, "warm", args), err=ctl.fmt != "table")
    if len(nodes) > 1:  # the job's row ended with the first node; the others report in their heartbeats
        job["nodes"] = follow_nodes(ctl.client, job["job_id"], nodes, err=ctl.fmt != "table")
    show_jobs(ctl, [job], wait)


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
@click.option("--state", type=click.Choice(STATES), help="Only this state.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@page_options
@format_option
@pass_ctl
def jobs_list(ctl: Ctl, state: str | None, kind: str | None, limit: int | None, offset: int) -> None:
    """Jobs, newest first."""
    ctl.emit_list(
        "/api/v1/jobs",
        {"state": state, "kind": kind},
        JOB_CSV_COLUMNS if ctl.fmt == "csv" else JOB_COLUMNS,
        limit,
        offset,
    )


@jobs.command("show", epilog=examples("jobs show 3f2a9c", "jobs show 3f2a9c --wait"))
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Follow the job until it ends.")
@format_option
@pass_ctl
def jobs_show(ctl: Ctl, job_id: str, wait: bool) -> None:
    """One job: arguments, state, progress, error."""
    job = ctl.client.get(f"/api/v1/jobs/{quote(job_id, safe='')}")  # a unique start of the id is enough
    if wait:
        job = follow(ctl.client, job, err=ctl.fmt != "table")
    columns = [Column("job_id", "JOB"), *JOB_COLUMNS[1:], Column("args", "ARGS")]  # the full id: one job, room enough
    ctl.emit([job], JOB_CSV_COLUMNS if ctl.fmt == "csv" else columns, job)
    if wait:
        check([job])


@jobs.command("cancel", epilog=examples("jobs cancel 3f2a9c"))
@click.argument("job_id")
@format_option
@pass_ctl
def jobs_cancel(ctl: Ctl, job_id: str) -> None:
    """Cancels a queued or running job (a move stops after the file in flight; nothing half-copied is kept)."""
    job = ctl.client.post(f"/api/v1/jobs/{quote(job_id, safe='')}/cancel")
    job_id = job.get("job_id", job_id) if isinstance(job, dict) else job_id
    ctl.say(f"job {job_id} {job.get('state', 'cancelling') if isinstance(job, dict) else 'cancelling'}", job)


@click.group(epilog=examples("trash list", "trash show 3f2a9c", "trash restore 3f2a9c --wait", "trash purge --wait"))
def trash() -> None:
    """Deletion jobs' trash (`marks delete`): list, inspect, restore until it expires, purge what expired."""


TRASH_COLUMNS = [
    Column("job_id", "JOB", get=lambda r: str(r.get("job_id") or "")[:SHORT_ID]),
    Column("status", "STATUS"),
    Column("files", "FILES", "int", lambda r: (r.get("progress") or {}).get("files_done")),
    Column("bytes", "SIZE", "size", lambda r: (r.get("progress") or {}).get("bytes_done")),
    Column("skipped", "SKIPPED", "int", lambda r: (r.get("progress") or {}).get("files_skipped")),
    Column("expires_at", "EXPIRES", "time"),
    Column("created_by", "BY"),
    Column("created_at", "CREATED", "time"),
    Column("trash", "TRASH", get=lambda r: (r.get("args") or {}).get("trash")),
]


@trash.command("list", epilog=examples("trash list", "trash list --format json"))
@page_options
@format_option
@pass_ctl
def trash_list(ctl: Ctl, limit: int | None, offset: int) -> None:
    """Deletion jobs, newest first: files and bytes in the trash, until when they can be restored."""
    ctl.emit_list("/api/v1/trash", {}, TRASH_COLUMNS, limit, offset)


@trash.command("show", epilog=examples("trash show 3f2a9c", "trash show 3f2a9c --format csv"))
@click.argument("job_id")
@page_options
@format_option
@pass_ctl
def trash_show(ctl: Ctl, job_id: str, limit: int | None, offset: int) -> None:
    """One deletion job's files (and what it skipped, with why)."""
    doc = ctl.client.get(f"/api/v1/trash/{quote(job_id, safe='')}", limit=limit or 1000, offset=offset)
    p = doc.get("progress") or {}
    notes = [
        f"deletion job {doc['job_id']}: {doc['status']}, expires {doc.get('expires_at')}; "
        f"{p.get('files_done', 0):,} of {(doc.get('args') or {}).get('files', 0):,} files in "
        f"{(doc.get('args') or {}).get('trash')}"
    ]
    notes += [f"skipped {s['backend']}:{s['path']}: {s['reason']}" for s in p.get("skipped") or []]
    notes += [f"failed {s['backend']}:{s['path']}: {s['error']}" for s in p.get("failed") or []]
    columns = [
        Column("backend", "BACKEND"),
        Column("path", "PATH"),
        Column("size_bytes", "SIZE", "size"),
        Column("marked_by", "MARKED BY"),
        Column("marked_at", "MARKED", "time"),
    ]
    ctl.emit(doc.get("files") or [], columns, doc, notes)


@trash.command("restore", epilog=examples("trash restore 3f2a9c", "trash restore 3f2a9c --wait"))
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Follow the restore job until it ends.")
@format_option
@pass_ctl
def trash_restore(ctl: Ctl, job_id: str, wait: bool) -> None:
    """Moves a deletion job's files back to their paths, byte for byte (refused once its trash expired)."""
    job = ctl.client.post(f"/api/v1/trash/{quote(job_id, safe='')}/restore")
    show_jobs(ctl, [follow(ctl.client, job, err=ctl.fmt != "table") if wait else job], wait)


@trash.command("purge", epilog=examples("trash purge", "trash purge --wait"))
@click.option("--wait", is_flag=True, help="Follow the purge job until it ends.")
@format_option
@pass_ctl
def trash_purge(ctl: Ctl, wait: bool) -> None:
    """Removes for good, now, every trash directory whose retention period ended (a job, on every backend). The
    crawler's job runner also does it by itself every crawler.trash_purge_interval seconds (hourly by default)."""
    job = ctl.client.post("/api/v1/trash/purge")
    show_jobs(ctl, [follow(ctl.client, job, err=ctl.fmt != "table") if wait else job], wait)


def _agent_row(agent: dict[str, Any]) -> dict[str, Any]:
    """One node's line of `status`, from its latest AgentStatus heartbeat (agent/node.py)."""
    st = agent.get("status") or {}
    mounts = st.get("mounts") or []
    cache, tel = st.get("cache") or {}, st.get("telemetry") or {}
    backends = st.get("backends") or {}
    down = sorted(n for n, b in backends.items() if isinstance(b, dict) and not b.get("reachable"))
    return {
        "node_host": agent.get("node_host"),
        "alive": agent.get("alive"),
        "last_heartbeat": agent.get("last_heartbeat"),
        "mounts": ", ".join(str(m.get("mountpoint")) for m in mounts) or None,
        "mount_errors": sum(int(m.get("errors") or 0) for m in mounts),
        "cache_bytes": cache.get("bytes"),
        "cache_max_bytes": cache.get("max_bytes"),
        "cache_hit_rate": None if cache.get("hit_rate") is None else 100 * cache["hit_rate"],
        "queue_depth": tel.get("queue_depth"),
        "dropped": tel.get("dropped"),
        "spool_bytes": tel.get("spool_bytes"),
        "backends_ok": f"{len(backends) - len(down)}/{len(backends)}" + (f" (down: {', '.join(down)})" if down else ""),
        "cache_blocks": cache.get("blocks"),
        "warm": _warm_summary(st.get("jobs") or {}),
    }


def _warm_summary(jobs: dict[str, Any]) -> str | None:
    """The node's warm jobs: each running one with its progress, then the finished ones counted by state."""
    parts: list[str] = []
    ended: Counter[str] = Counter()
    for job in jobs.values():
        if not isinstance(job, dict):
            continue
        if job.get("state") == "running":
            fraction, text = describe(job)
            parts.append(f"{job.get('path')} " + (f"{fraction * 100:.0f}%" if fraction is not None else text))
        else:
            ended[str(job.get("state"))] += 1
    parts += [f"{n} {state}" for state, n in sorted(ended.items())]
    return ", ".join(parts) or None


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
        return ctl.emit(rows, [Column(k, k) for k in _agent_row({})])  # the same header with no agent
    columns = [
        Column("node_host", "NODE"),
        Column("alive", "ALIVE", "bool"),
        Column("last_heartbeat", "HEARTBEAT", get=lambda r: ago(r["last_heartbeat"])),
        Column("mounts", "MOUNTS"),
        Column("mount_errors", "ERRORS", "int"),
        Column("cache_bytes", "CACHE", "size"),
        Column("cache_hit_rate", "HIT RATE", "pct"),
        Column("queue_depth", "QUEUE", "int"),
        Column("dropped", "DROPPED", "int"),
        Column("spool_bytes", "SPOOL", "size"),
        Column("backends_ok", "BACKENDS OK"),
        Column("warm", "WARM"),
    ]
    ready = health["readyz"]
    facts = ", ".join(f"{k}={v}" for k, v in ready.items() if isinstance(v, (str, int, float, bool)))
    click.echo(f"control plane {health['control_plane']}: {facts}")
    click.echo(f"agents: {len(rows)} ({sum(1 for r in rows if r['alive'])} alive)")
    ctl.emit(rows, columns)


COMMANDS = [move, warm, crawl, jobs, trash, status]
