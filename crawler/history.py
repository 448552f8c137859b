"""`warpdrive backfill`: import access history from logs (crawler/backfill.py does the work)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click
import orjson

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.errors import SchemaError

from .backfill import BATCH, Summary, backfill
from .errors import CrawlerError
from .logformats import FORMATS
from .main import _run


def _json_table(value: str | None, what: str) -> dict[str, Any]:
    if not value:
        return {}
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON ({e})", param_hint=what) from None
    if not isinstance(doc, dict):
        raise click.BadParameter("must be a JSON object", param_hint=what)
    return doc


class Progress:
    """A line redrawn on a terminal (at most 5 times a second)."""

    def __init__(self) -> None:
        self.started = self.shown = time.monotonic()

    def __call__(self, s: Summary) -> None:
        now = time.monotonic()
        if now - self.shown < 0.2:
            return
        self.shown = now
        rate = s.lines / max(now - self.started, 1e-6)
        sys.stderr.write(
            f"\r\033[Kbackfill: {s.files} files, {s.lines:,} lines, {rate:,.0f} lines/s, {s.unparseable:,} unparseable"
        )
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def render(s: Summary) -> str:
    """The final summary, for people."""
    verb = "would import" if s.dry_run else "imported"
    out = [
        f"{s.files} files, {s.lines:,} lines read: {verb} {s.imported if not s.dry_run else sum(b.events for b in s.backends.values()):,}, "
        f"skipped {sum(s.skipped.values()):,} ({s.unknown_backend:,} unknown backend), "
        f"unparseable {s.unparseable:,}"
    ]
    for reason, n in sorted(s.skipped.items(), key=lambda kv: -kv[1]):
        out.append(f"  skipped {n:,}: {reason}")
    if s.backends:
        out.append(f"  {'backend':<20} {'events':>12}  first event                   last event")
        for name, b in sorted(s.backends.items()):
            out.append(f"  {name:<20} {b.events:>12,}  {b.first:<28}  {b.last}")
            for first, last, days in b.gaps():
                out.append(
                    f"  {'':<20} gap: no events {first}..{last} ({days} days): logs missing? unless another "
                    f"import has those days, coverage counts nothing before them"
                )
    for file, line, reason in s.bad:
        out.append(f"  bad line {file}:{line}: {reason}")
    if s.unparseable > len(s.bad):
        out.append(f"  … and {s.unparseable - len(s.bad):,} more bad lines")
    if not s.dry_run:
        out.append("Imported lines are applied once: importing the same logs again adds nothing.")
    return "\n".join(out)


@click.command("backfill")
@click.argument("locations", nargs=-1, required=True, metavar="LOG...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Log format (default: sniffed per file).")
@click.option("--dry-run", is_flag=True, help="Read and count only: what would be imported per backend and date range.")
@click.option(
    "--users",
    "users_json",
    metavar="JSON",
    help='Requester → user, over [history.users]: \'{"arn:aws:iam::1:user/a": "alice"}\'.',
)
@click.option(
    "--storage-options",
    "options_json",
    metavar="JSON",
    help="fsspec options for the log location (default: those of a configured backend of its scheme).",
)
@click.option(
    "--batch-size",
    default=BATCH,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Log lines folded into one Kafka message (the rows they change, and each line's event: at most ~150 B each;"
    " a message that would pass 900 KB is split).",
)
@click.option(
    "--jobs",
    default=0,
    type=click.IntRange(0, 64),
    help="Processes parsing logs in parallel (default: one per CPU; 1: parse in this process).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote).",
)
def cli(
    locations: tuple[str, ...],
    fmt: str | None,
    dry_run: bool,
    users_json: str | None,
    options_json: str | None,
    batch_size: int,
    jobs: int,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Import access history from logs, so stale answers are covered on day one.

    LOG is a file, a directory, or an object / prefix of log objects (s3://logs/prefix/, gs://...). Formats:
    jsonl (the spec's AccessEvent shape), s3-access-log (S3 server access logs), gcs-audit-log (Cloud Audit
    Logs data-access entries as JSON lines). Each line is published to the access topic as an agent would,
    with an id from its file and line number: importing the same logs twice counts each line once. Bad lines
    are counted and the first few shown with their line numbers; they never stop the import.

    \b
    Examples:
      warpdrive backfill --dry-run s3://logs/access/2026-   # what would be imported, per backend
      warpdrive backfill s3://logs/access/                  # every log object under the prefix
      warpdrive backfill --format jsonl history.jsonl
    """
    users = _json_table(users_json, "--users")
    options = _json_table(options_json, "--storage-options")
    progress = Progress() if sys.stderr.isatty() and not as_json else None
    try:
        cfg = wconfig.load(config_path)
        summary = _run(
            backfill(
                cfg,
                list(locations),
                fmt,
                dry_run,
                {str(k): str(v) for k, v in users.items()},
                options,
                batch_size,
                progress,
                jobs or os.cpu_count() or 1,
            )
        )
    except (SchemaError, CrawlerError) as e:
        raise click.ClickException(str(e)) from None
    except (KeyboardInterrupt, SystemExit):
        raise click.ClickException("interrupted: what was sent stays; importing again adds only the rest") from None
    finally:
        if progress is not None:
            progress.done()
    click.echo(orjson.dumps(summary.as_dict()).decode() if as_json else render(summary))
