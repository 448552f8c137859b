"""`warpdrive-ctl`: the admin's CLI over the control-plane REST API.

Every error is one line on stderr with exit code 1 (usage errors: 2), never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, Iterator, NoReturn

import click

from . import admin, ops, reports
from .context import Ctl
from .errors import CtlError
from .output import FORMATS

EPILOG = """\b
Examples:
  warpdrive-ctl usage --group-by team
  warpdrive-ctl stale --days 90 --min-size 10GB --format csv > stale.csv
  warpdrive-ctl --control-plane http://cp:8080 --token $TOKEN quota list
"""


# A group run without a command (click >= 8.2 raises this; click 8.1 prints the help itself).
NO_COMMAND: type[click.UsageError] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _reader_left() -> NoReturn:
    """stdout's reader went away (`warpdrive-ctl stale | head`): end as a Unix tool does, killed by SIGPIPE.

    Python ignores SIGPIPE, so the write raised instead (and click would exit 1). Dying of the signal
    says "output cut short" the conventional way: status 141 in the shell, silent.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush of stdout must not fail again
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    sys.exit(128 + signal.SIGPIPE)  # reached only if SIGPIPE is blocked: the same status by hand


@contextlib.contextmanager
def _quiet_broken_pipe() -> Iterator[None]:
    # Inside click's main, which would turn the EPIPE into a silent exit 1 first.
    try:
        yield
    except BrokenPipeError:
        _reader_left()


class CtlGroup(click.Group):
    """The root group: every failure becomes one line and an exit code, whoever invokes it."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        with _quiet_broken_pipe():  # `--help` and `--version` are written while parsing
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _quiet_broken_pipe():
                return super().invoke(ctx)
        except CtlError as e:  # the edge: our errors become click's
            raise click.ClickException(str(e)) from None
        finally:
            if isinstance(ctx.obj, Ctl):
                ctx.obj.close()

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NO_COMMAND as e:  # `warpdrive-ctl` or `warpdrive-ctl jobs` alone: the help, as it is, is the answer
            click.echo(e.ctx.get_help() if e.ctx else e.format_message(), err=True)
            sys.exit(2)
        except click.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
            _fail(f"{e.format_message()}{hint}", e.exit_code)
        except click.ClickException as e:
            _fail(e.format_message(), e.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        except Exception as e:  # a bug or an answer of an unexpected shape: still one line, never a traceback
            _fail(f"internal error ({type(e).__name__}: {e}); please report it with the command line", 1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int) -> None:
    # One line whatever the message holds (an API message or an OS error may carry newlines).
    click.echo("Error: " + " ".join(message.split()), err=True)
    sys.exit(code)


@click.group(
    name="warpdrive-ctl",
    cls=CtlGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog=EPILOG,
)
@click.option(
    "--control-plane",
    envvar="WARPDRIVE_CONTROL_PLANE",
    metavar="URL",
    help="Control-plane API URL [env WARPDRIVE_CONTROL_PLANE; default: api.base_url from the config file].",
)
@click.option(
    "--token", envvar="WARPDRIVE_TOKEN", help="API bearer token [env WARPDRIVE_TOKEN]; changes need an admin token."
)
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file to read the control-plane URL from [env WARPDRIVE_CONFIG].",
)
@click.option(
    "--format",
    "-o",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table: human sizes; csv/json: exact bytes, for scripts.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each API answer.",
)
@click.version_option(package_name="warpdrive", prog_name="warpdrive-ctl")
@click.pass_context
def cli(
    ctx: click.Context, control_plane: str | None, token: str | None, config_path: str | None, fmt: str, timeout: float
) -> None:
    """Admin CLI of WarpDrive Governance: usage, stale data, growth, quotas, moves and agents across every backend."""
    ctx.obj = Ctl(control_plane=control_plane, token=token, config_path=config_path, fmt=fmt, timeout=timeout)


for _module in (reports, admin, ops):
    for _cmd in _module.COMMANDS:
        cli.add_command(_cmd)


def main() -> None:
    cli.main()
