"""`warpdrive`: runs the components (`agent`, `streams`, `api`, `crawler`) and the local `stack`.

Component commands are loaded lazily from their own packages, so `warpdrive stack down` never
imports FUSE or Faust, and a component missing a system library only fails its own command.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import time
from pathlib import Path

import click

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.errors import SchemaError

from .errors import StackError
from .stack import Ports, Stack

COMPONENTS = {
    "agent": ("warpdrive.agent.main", "FUSE node agent: mount backends, record every access."),
    "streams": ("warpdrive.streams.main", "Faust stream workers: aggregate topics into PostgreSQL, evaluate quotas."),
    "api": ("warpdrive.api.main", "Control-plane REST API (and the dashboard)."),
    "crawler": ("warpdrive.crawler.main", "Crawl every backend into listing events."),
    "backfill": (
        "warpdrive.crawler.history",
        "Import access history from logs (S3 access logs, GCS audit logs, JSON lines).",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMPONENTS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMPONENTS:
            module, help_ = COMPONENTS[name]
            try:
                cmd = importlib.import_module(module).cli
            except ImportError as e:
                raise click.ClickException(f"{name}: cannot load {module}: {e}") from None
            cmd.help = cmd.help or help_
            return cmd
        return super().get_command(ctx, name)


def configure_logging(verbose: bool, component: str) -> None:
    """Text or JSON lines (WARPDRIVE_LOG_FORMAT until the component's config is loaded, then its [log] format)."""
    from warpdrive.schemas import logs

    logs.configure(
        component, os.environ.get("WARPDRIVE_LOG_FORMAT", "text"), level=logging.DEBUG if verbose else logging.INFO
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="warpdrive")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """WarpDrive Governance: who owns what data, where, across every backend."""
    configure_logging(verbose, ctx.invoked_subcommand or "warpdrive")


def load_config(path: str | None) -> wconfig.Config:
    """Loads the config for a command, turning a bad one into a one-line error."""
    try:
        return wconfig.load(path)
    except SchemaError as e:
        raise click.ClickException(str(e)) from None


config_option = click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote, else built-in defaults).",
)


def _stack(state_dir: str | None) -> Stack:
    return Stack(Path(state_dir) if state_dir else wconfig.default_state_dir(), progress=lambda m: click.echo(f"  {m}"))


state_option = click.option("--state-dir", envvar="WARPDRIVE_STATE_DIR", help="Where the stack keeps data and logs.")


@cli.group()
def stack() -> None:
    """Start, stop and inspect the local stack (no containers)."""


@stack.command("up")
@state_option
@click.option("--infra-only", is_flag=True, help="Only Kafka, PostgreSQL and the object-store servers.")
@click.option("--kafka-port", type=int, default=9092, show_default=True)
@click.option("--api-port", type=int, default=8080, show_default=True)
@click.option("--s3-port", type=int, default=9100, show_default=True)
@click.option("--gcs-port", type=int, default=9101, show_default=True)
@click.option(
    "--kafka-sasl-port",
    type=int,
    default=0,
    help="Also Kafka listeners with SASL_PLAINTEXT here and SASL_SSL on the next port (SCRAM-SHA-256/512, "
    "PLAIN; user warpdrive; CA in <state>/kafka-tls/ca.pem), for tests.",
)
@click.option("--azure-port", type=int, default=10000, show_default=True, help="Azurite's blob port.")
def stack_up(
    state_dir: str | None,
    infra_only: bool,
    kafka_port: int,
    api_port: int,
    s3_port: int,
    gcs_port: int,
    kafka_sasl_port: int,
    azure_port: int,
) -> None:
    """Start every service (idempotent) and wait until each is healthy.

    \b
    Example:
      warpdrive stack up && warpdrive-ctl usage --group-by team
    """
    st = _stack(state_dir)
    if not (st.run_dir / "ports").exists():
        st.ports = Ports(
            kafka=kafka_port, kafka_controller=kafka_port + 1, s3=s3_port, gcs=gcs_port, api=api_port, azure=azure_port
        )
        st.kafka_sasl_port = kafka_sasl_port
    t0 = time.monotonic()
    click.echo(f"starting the stack in {st.state_dir}")
    try:
        st.infra_up()
        cfg = wconfig.load(st.config_path)
        from warpdrive.schemas.topics import ensure_topics

        asyncio.run(ensure_topics(cfg.kafka))
        asyncio.run(_migrate(cfg))
        ensure_buckets(cfg)
        if not infra_only:
            from .demo import CONFIG_EXTRA

            st.write_config(CONFIG_EXTRA)
            start_apps(st)
    except (StackError, SchemaError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"stack up in {time.monotonic() - t0:.1f}s; config: {st.config_path}; logs: {st.log_dir}")


def start_apps(st: Stack) -> None:
    """WarpDrive's own long-running services, as processes of the stack."""
    from .stack import free_port, port_open, wait_for

    exe = str(Path(sys.executable).with_name("warpdrive"))
    env = {"WARPDRIVE_CONFIG": str(st.config_path)}

    def metrics(component: str) -> dict[str, str]:
        """Each long-running process serves Prometheus /metrics on a free port, named in its log and here."""
        listen = f"127.0.0.1:{free_port()}"
        st.progress(f"{component} metrics: http://{listen}/metrics")
        return {**env, f"WARPDRIVE_{component.upper()}_METRICS_LISTEN": listen}

    if not st.pid("streams"):
        st.spawn("streams", [exe, "streams", "worker"], env=metrics("streams"))
    if not st.pid("api"):
        st.spawn("api", [exe, "api", "serve", "--insecure-no-auth"], env=env)
        wait_for("API", lambda: port_open(st.ports.api), 60, st.log_dir / "api.log", lambda: st.pid("api") is not None)
    if not st.pid("crawler"):
        st.spawn("crawler", [exe, "crawler", "run"], env=metrics("crawler"))
    started = ["streams", "api", "crawler"]
    mnt = st.state_dir / "mnt"
    if Path("/dev/fuse").exists() and not st.pid("agent"):
        mnt.mkdir(exist_ok=True)
        st.spawn("agent", [exe, "agent", "mount", str(mnt)], env=metrics("agent"))
        wait_for(
            "agent mount",
            lambda: os.path.ismount(mnt),
            60,
            st.log_dir / "agent.log",
            lambda: st.pid("agent") is not None,
        )
        started.append(f"agent (mounted at {mnt})")
    st.progress(f"{', '.join(started)} up; API and dashboard at {st.api_url}")


def ensure_buckets(cfg: wconfig.Config) -> None:
    """Creates the object-store buckets the generated config names (the local servers start empty)."""
    from warpdrive.schemas.storage import kind_of

    for b in cfg.backends:
        if not (kind := kind_of(b)).posix:
            fs = kind.open_fs(b)
            bucket = kind.root_path(b).split("/")[0]
            if not fs.exists(bucket):
                fs.mkdir(bucket)


async def _migrate(cfg: wconfig.Config) -> list[str]:
    """Applies pending migrations; returns their labels."""
    from warpdrive.schemas.db import migrate, migrations

    labels = {m.version: m.label for m in migrations()}
    return [labels[v] for v in await _with_conn(cfg, migrate)]


@stack.command("demo")
@state_option
def stack_demo(state_dir: str | None) -> None:
    """Load demo data into a running stack and show the governance views.

    \b
    Example:
      warpdrive stack up && warpdrive stack demo
    """
    from . import demo

    st = _stack(state_dir)
    if not st.pid("api"):
        raise click.ClickException("the stack is not running: run `warpdrive stack up` first")
    try:
        demo.run(st, click.echo)
    except StackError as e:
        raise click.ClickException(str(e)) from None


@stack.command("down")
@state_option
def stack_down(state_dir: str | None) -> None:
    """Stop every service of the stack; nothing is left running."""
    stopped = _stack(state_dir).down()
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack.command("reap")
@click.option(
    "--ledger",
    "ledger_dir",
    required=True,
    envvar="WARPDRIVE_RUN_LEDGER",
    type=click.Path(file_okay=False),
    help="The run's ledger dir (WARPDRIVE_RUN_LEDGER of the run).",
)
def stack_reap(ledger_dir: str) -> None:
    """Stop exactly what one run recorded in its ledger: its stacks, processes (by pid and start time) and
    FUSE mounts. Nothing else is touched, whatever its name.

    \b
    Example:
      WARPDRIVE_RUN_LEDGER=/tmp/wdci-x/ledger pytest tests; warpdrive stack reap --ledger /tmp/wdci-x/ledger
    """
    from .ledger import Ledger

    stopped = Ledger(Path(ledger_dir)).reap()
    click.echo(f"stopped: {'; '.join(stopped)}" if stopped else "nothing of this run was running")


@stack.command("status")
@state_option
def stack_status(state_dir: str | None) -> None:
    """Show each service, its pid and its log."""
    st = _stack(state_dir)
    for name, s in st.status().items():
        click.echo(f"{name:10} {'running pid ' + str(s['pid']) if s['running'] else 'stopped':22} {s['log']}")
    if any(not s["running"] for s in st.status().values()):
        sys.exit(1)


@cli.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("create")
@config_option
def topics_create(config_path: str | None) -> None:
    """Create every WarpDrive topic that is missing (idempotent)."""
    from warpdrive.schemas.topics import ensure_topics

    cfg = load_config(config_path)
    try:
        created = asyncio.run(ensure_topics(cfg.kafka))
    except Exception as e:  # the broker's own errors: one line, not a traceback
        raise click.ClickException(
            f"kafka {cfg.kafka.bootstrap_servers}: {e if type(e).__name__ in str(e) else repr(e)}"
        ) from None
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")


@cli.command("migrate")
@config_option
@click.option("--check", is_flag=True, help="Change nothing; exit 1 unless the schema is exactly this release's.")
@click.option("--dry-run", is_flag=True, help="Change nothing; list what a migrate would apply, amend or record.")
def migrate_cmd(config_path: str | None, check: bool, dry_run: bool) -> None:
    """Bring the PostgreSQL schema to this release: the one way it changes in production.

    Run it as a release step, before starting the new services (docs/operations.md says in which order for each
    kind of change); services refuse to start on an older or unknown schema. Each migration is applied in its own
    transaction and recorded with its checksum; a landed migration whose text was edited is refused.

    \b
    Examples:
      warpdrive migrate --dry-run     # what would change
      warpdrive migrate               # apply it
      warpdrive migrate --check       # exit 1 unless current (CI, readiness of a release)
    """
    from warpdrive.schemas.db import migrations

    cfg = load_config(config_path)
    try:
        shipped = migrations()
        if check or dry_run:
            st = asyncio.run(_with_conn(cfg, _state))
            for line in _plan_lines(st):
                click.echo(line)
            if st.pending or st.amend:
                click.echo(f"upgrade:   {st.upgrade()} — {UPGRADE_ORDER[st.upgrade()]} (docs/operations.md, Upgrades)")
            if check and not st.current:
                raise click.ClickException(st.problem() or "the schema is not current")
            if st.current:
                click.echo(f"schema current: {shipped[-1].label} ({len(shipped)} migrations, checksums match)")
            return
        applied = asyncio.run(_migrate(cfg))
    except SchemaError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"applied: {', '.join(applied)}" if applied else "nothing to apply")
    click.echo(f"schema current: {shipped[-1].label} ({len(shipped)} migrations)")


UPGRADE_ORDER = {
    "online": "migrate, then roll the services out in any order",
    "stop-workers": "stop every stream worker, migrate, then start the new release",
    "stop-all": "stop workers, API and crawler, migrate, then start the new release",
}


def _plan_lines(st) -> list[str]:  # st: warpdrive.schemas.db.SchemaState
    return (
        [f"pending:   {m.label}" for m in st.pending]
        + [f"amend:     {m.label} (applied from an earlier text)" for m in st.amend]
        + [f"record:    {m.label} (checksum not recorded by an older release)" for m in st.adopt]
        + [f"EDITED:    {m.label} (applied text differs from this release's)" for m in st.edited]
        + [f"UNKNOWN:   {label} (not shipped by this release)" for label in st.unknown]
    )


async def _state(conn):  # -> SchemaState
    from warpdrive.schemas.db import schema_state

    return await schema_state(conn)


async def _with_conn(cfg: wconfig.Config, fn):
    import asyncpg

    from warpdrive.schemas.db import resolve_dsn

    try:
        conn = await asyncio.wait_for(asyncpg.connect(resolve_dsn(cfg)), 30)
    except SchemaError:
        raise
    except Exception as e:  # the DSN may hold a password: name the setting, not its value
        raise click.ClickException(f"postgres.dsn: cannot connect to PostgreSQL: {type(e).__name__}: {e}") from None
    try:
        return await fn(conn)
    finally:
        await conn.close()


@cli.command("schema-snapshot")
@config_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here (default: standard output).")
def schema_snapshot_cmd(config_path: str | None, output: str | None) -> None:
    """Print the schema today's migrations create (pg_dump --schema-only, normalised).

    Creates a scratch database on the configured PostgreSQL server, migrates it, dumps it and drops it.

    \b
    Example (after adding a migration):
      warpdrive schema-snapshot -o schemas/schema.sql
    """
    from warpdrive.schemas.db import resolve_dsn, schema_snapshot

    cfg = load_config(config_path)
    try:
        text = asyncio.run(schema_snapshot(resolve_dsn(cfg)))
    except SchemaError as e:
        raise click.ClickException(str(e)) from None
    if output:
        Path(output).write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command("retention")
@config_option
@click.option("--dry-run", is_flag=True, help="Change nothing; list the partitions it would create and drop.")
def retention_cmd(config_path: str | None, dry_run: bool) -> None:
    """Keep access_log and access_daily to `retention.keep_months` months: run it daily (the k8s CronJob does).

    Creates the monthly partitions of this month and the next two (moving any rows of a kept month out of the
    DEFAULT partition), drops whole months older than the kept ones, and deletes older rows that arrived late.
    Per-file last access and per-user totals live in rollups and are not touched. Also deletes the dedupe marks
    of agent instances no event came from for `retention.producer_days`. Safe to run while workers run and to
    run again; each step is its own short transaction.

    \b
    Examples:
      warpdrive retention --dry-run
      WARPDRIVE_RETENTION_KEEP_MONTHS=6 warpdrive retention
    """
    import datetime

    from warpdrive.schemas import retention

    cfg = load_config(config_path)
    keep = cfg.retention.keep_months
    today = datetime.datetime.now(datetime.UTC).date()

    async def run(conn) -> list:
        steps = await retention.plan(conn, keep, today, cfg.retention.producer_days)
        if not dry_run:
            await retention.apply(conn, steps, lambda line: click.echo(f"  {line}"))
        return steps

    click.echo(
        f"retention: keeping {keep} month(s), from {retention.cutoff(today, keep)}; agent instances' dedupe marks "
        f"seen since {retention.producers_cutoff(today, cfg.retention.producer_days)}"
        + (" (dry run: nothing changes)" if dry_run else "")
    )
    try:
        steps = asyncio.run(_with_conn(cfg, run))
    except SchemaError as e:
        raise click.ClickException(str(e)) from None
    if dry_run:
        for s in steps:
            click.echo(f"  would {s.describe()}")
    click.echo(
        f"{'would do' if dry_run else 'done'}: {sum(s.kind == 'create' for s in steps)} created, "
        f"{sum(s.kind == 'drop' for s in steps)} dropped, {sum(s.rows for s in steps if s.kind == 'purge'):,} "
        f"late row(s) deleted, {sum(s.rows for s in steps if s.kind == 'prune'):,} dedupe mark(s) pruned"
    )


@cli.command("config")
@config_option
def config_cmd(config_path: str | None) -> None:
    """Validate the config and list every setting with its env var."""
    cfg = load_config(config_path)
    click.echo(f"config OK ({cfg.source}); {len(cfg.backends)} backend(s): {', '.join(b.name for b in cfg.backends)}")
    for name, env, default, help_ in wconfig.settings_help():
        click.echo(f"  {name:32} {env:40} default {default:14} {help_}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    cli(prog_name="warpdrive")


if __name__ == "__main__":
    main()
