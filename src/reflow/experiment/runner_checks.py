"""The run function of a sweep: checked before anything runs, and recorded per folder, so that a resume does not
mix the runs of two run functions unless asked to (``--allow-runner-change``; manifest.json ``runners``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reflow.errors import ConfigError, ReflowError
from reflow.experiment.runner import DEFAULT_RUNNER, resolve_runner

__all__ = ["check_runner", "recorded_runners"]


def check_runner(runner: str) -> None:
    """Import the run function now (``"module:function"``), so that a wrong `--runner` is one clear error before
    anything is written, not one stored error per run.

    Raises:
        ConfigError: the module or the function cannot be imported, or is not callable.
    """
    try:
        resolve_runner(runner)
    except (Exception, SystemExit) as exc:  # an import can raise anything; the message is what the user needs
        raise ConfigError(f"--runner {runner!r}: cannot use it ({type(exc).__name__}: {exc}); give an importable "
                          "'package.module:function' (e.g. reflow.experiment.fakes:analytic), or leave --runner "
                          "out to run the model") from None


def recorded_runners(manifest: Mapping[str, Any]) -> list[str]:
    """The run functions of the runs a sweep folder holds, as its manifest records them (``runners``; folders
    written before it did: the runners of the sessions that stored runs)."""
    before = manifest.get("runners")
    if not isinstance(before, list):
        before = [str(s.get("runner")) for s in manifest.get("sessions", []) if isinstance(s, dict)
                  and s.get("runner") and (s.get("ran") or s.get("status") in ("running", "killed"))]
    return list(dict.fromkeys(str(r) for r in before))


def _runner_named(runner: str) -> str:
    return f"the model ({DEFAULT_RUNNER}, no --runner)" if runner == DEFAULT_RUNNER else f"--runner {runner}"


def _stored_runners(out: Path, manifest: Mapping[str, Any], runner: str, *, kept: int, to_run: int,
                    allow_change: bool) -> list[str]:
    """The run functions whose runs the folder will hold once this session has run (`manifest["runners"]`).

    Refuses, unless `allow_change`, a session that would add runs of `runner` to runs that another run function
    made: the result set would mix two run functions without a trace in the runs table. Folders written before
    the manifest listed ``runners`` take them from the sessions that stored runs.

    Args:
        out: the sweep folder (for the message).
        manifest: its manifest as read (empty for a new sweep).
        runner: this session's run function.
        kept: stored runs that stay (all of them, less those `--retry-failed` is about to run again).
        to_run: runs this session will run.
        allow_change: mix on purpose (`--allow-runner-change`).

    Raises:
        ReflowError: another run function made the stored runs, and `allow_change` is false.
    """
    held = recorded_runners(manifest) if kept else []  # none stay: nothing to mix with
    if not to_run:
        return held
    if held and runner not in held and not allow_change:
        old = held[-1]
        others = f" (and {', '.join(held[:-1])})" if len(held) > 1 else ""
        again = "leave --runner out" if old == DEFAULT_RUNNER else f"give --runner {old}"
        raise ReflowError(
            f"{out}: its {kept} stored runs were made by {_runner_named(old)}{others}; this session would run "
            f"{to_run} more with {_runner_named(runner)}, mixing two run functions in one result set. To resume as "
            f"before, {again}; to run the sweep with the new one alone, choose another --out (or --force, which "
            "deletes the stored runs); to mix them on purpose, add --allow-runner-change (manifest.json then lists "
            "both under `runners`)")
    return list(dict.fromkeys([*held, runner]))
