"""Command-line interface: a thin layer over `reflow.api` (parse, call, print, exit code)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from reflow.errors import ReflowError

if TYPE_CHECKING:
    import argparse

    from reflow.config import Scenario

__all__ = ["build_parser", "main", "positive_int"]


def positive_int(what: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number > 0, else refused naming `what` (e.g. "rows per table, e.g. 40").

    For options where 0 or less would not fail at once but give nonsense later (``--dpi``, ``--rows``).
    """

    def parse(text: str) -> int:
        import argparse  # not at the top of the module: see `build_parser`

        try:
            value = int(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number > 0 ({what})")
        return value

    return parse


def _warn_events_after_the_run(path: str, cfg: Scenario) -> None:
    """One line on stderr per policy event dated after the run's last week, which has no effect. Not an error: a
    run shortened with --set scenario.weeks, or a forward scenario cut short, leaves later measures out on purpose.
    Here in the commands, not in `api.run`, which a sweep calls for every run."""
    from reflow.policy import after_the_run

    for ev in after_the_run(cfg.policy, cfg.scenario.end):
        dated = f"effective {ev.effective}" if ev.announce == ev.effective else f"announced {ev.announce}"
        print(f"warning: {path}: policy event '{ev.id}' ({dated}) is after the run's last week "
              f"({cfg.scenario.end}); it will have no effect", file=sys.stderr)


def _warn_default_rate_unused(path: str, cfg: Scenario, overrides: Sequence[str]) -> None:
    """A warning on stderr when --set licensing.approval_rate reaches no licensing event: it is only the rate of
    events that set none of their own, and every licensing event of the bundled scenarios sets one, so the
    override the --set help used as its example changed nothing and said nothing."""
    from reflow.policy import without_own_approval_rate

    given = [o for o in overrides if o.partition("=")[0].strip() == "licensing.approval_rate"]
    if not given or without_own_approval_rate(cfg.policy):
        return
    own = [ev.id for ev in cfg.policy if ev.kind == "licensing"]
    if own:
        why = (f"every licensing event of {path} sets its own approval_rate ({', '.join(own)}); set one of "
               f"those instead, e.g. --set policy.{own[0]}.approval_rate=...")
    else:
        why = f"{path} has no licensing event"
    print(f"warning: --set {given[-1]} changes nothing: it is the approval rate of licensing events that set "
          f"none of their own, and {why}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    from reflow import api
    from reflow.config import load_config
    from reflow.report_text import format_summary

    # (validated twice, here and in `api.run`: cheap beside a run, and the warning comes before the run's progress)
    cfg = load_config(args.config, overrides=args.set)
    _warn_events_after_the_run(args.config, cfg)
    _warn_default_rate_unused(args.config, cfg, args.set)
    result = api.run(
        args.config,
        seed=args.seed,
        overrides=args.set,
        out=args.out,
        run_id=args.run_id,
        force=args.force,
        figures=not args.no_figures,
        progress=not args.quiet,
    )
    print(format_summary(result.summary))
    if result.path is not None:
        print(f"\nResults written to {result.path}")
    return 0


def _validate_one(path: str, overrides: list[str]) -> str:
    """Check one scenario or sweep file; the OK line to print, or a ReflowError."""
    from reflow.config import load_config, load_raw

    if "sweep" in load_raw(path):  # a sweep file: check it and the scenario of every design point
        from reflow.experiment.sweeper import check_sweep

        sw, points, runs = check_sweep(path, overrides=overrides)
        return (f"{path}: OK (sweep '{sw.sweep.name}', {sw.design.method} design of {points} points, {runs} runs, "
                f"base {sw.sweep.base})")
    cfg = load_config(path, overrides=overrides)
    _warn_events_after_the_run(path, cfg)
    _warn_default_rate_unused(path, cfg, overrides)
    return (f"{path}: OK (scenario '{cfg.scenario.name}', {cfg.scenario.start} + {cfg.scenario.weeks} weeks, "
            f"{len(cfg.policy)} policy events)")


def _cmd_validate(args: argparse.Namespace) -> int:
    # Every file is checked, so one command reports all the broken ones; the exit code says if any failed.
    failed = 0
    code = 0
    for path in args.config:
        try:
            print(_validate_one(path, args.set))
        except ReflowError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            code = code or exc.exit_code
    if failed and len(args.config) > 1:
        print(f"error: {failed} of {len(args.config)} files are invalid", file=sys.stderr)
    return code


_SET_HELP = ("override a config field, e.g. --set scenario.weeks=104 (repeatable); a policy or supplier is named "
             "by its id (policy.apr2025.approval_rate=0.4), or by its 0-based position if no entry has that id "
             "(policy.0.approval_rate)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `reflow` command, with every subcommand registered."""
    import argparse  # here, not at the top: a Ctrl-C while it loads is then inside `main`'s guard

    parser = argparse.ArgumentParser(prog="reflow", description="Rare-earth trade under export licensing.")
    parser.add_argument("--version", action="version", version=f"reflow {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run one scenario and write its results")
    p.add_argument("config", help="scenario TOML file")
    p.add_argument("--seed", type=int, default=None, help="random seed, a whole number >= 0 (default: scenario.seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=_SET_HELP)
    p.add_argument("--out", default="results", help="results root (default: results)")
    p.add_argument("--run-id", default=None,
                   help="name of the run folder inside <out>/<scenario>/, a plain name, not a path "
                        "(default: seed<N>-<timestamp>)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run folder of the same name (only a reflow run folder, one with "
                        "manifest.json)")
    p.add_argument("--no-figures", action="store_true", help="skip the quick-look figures")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check config files (scenarios or sweeps) without running them")
    p.add_argument("config", nargs="+", help="scenario or sweep TOML file(s)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=_SET_HELP)
    p.set_defaults(func=_cmd_validate)

    # Subcommands owned by other layers register themselves here (sweep/analyze, plot/report).
    for module in ("reflow.experiment.cli", "reflow.plotting.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:  # layer not installed in this checkout
            if exc.name and exc.name.startswith(module.rsplit(".", 1)[0]):
                continue
            raise
        mod.register(sub)
    return parser


def _version() -> str:
    from reflow import __version__

    return __version__


def guarded(run: Callable[[], int | None]) -> int:
    """Call `run` as a command: bad input (`ReflowError`) is one line on stderr and its exit code (2), Ctrl-C is
    130, a closed output pipe 141, never a traceback. The experiment scripts use it too."""
    try:
        return int(run() or 0)
    except ReflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`reflow analyze DIR | head`): it has what it wanted, so stop as
        # `cat` would, with the shell's code for SIGPIPE. stdout goes to /dev/null first, or flushing it at exit
        # raises again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `reflow` console script."""

    def command() -> int | None:
        # Building the parser imports the subcommands' modules: a Ctrl-C in those first ~0.1 s is guarded too.
        args = build_parser().parse_args(argv)
        return args.func(args)

    return guarded(command)


if __name__ == "__main__":
    sys.exit(main())
