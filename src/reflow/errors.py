"""User-facing errors: printed by the CLI as one clear message, without a traceback; and `whole_number`, the
whole-number check of API arguments whose refusal is a `UsageError`."""

from __future__ import annotations

import operator
from typing import Any

__all__ = ["ConfigError", "ReflowError", "ResultExistsError", "ResultReadError", "UsageError", "whole_number"]


class ReflowError(Exception):
    """Base class of errors caused by user input (bad config, missing file, existing result)."""

    exit_code = 2


class ConfigError(ReflowError):
    """A config file or override is invalid. The message names the file, key path, value and fix."""


class ResultExistsError(ReflowError):
    """An output folder already holds a result and `--force` was not given."""


class ResultReadError(ReflowError):
    """A result folder is missing files or holds corrupt ones."""


class UsageError(ReflowError):
    """A command-line option or API argument is invalid (a run id that is a path, a negative seed, an output
    path that is a file, a resolution of 0). The message names the option and the fix."""


def whole_number(value: Any) -> int | None:
    """`value` as an int if it is a whole number (an int or a numpy integer), else None (a bool, a float, a str).

    The one check of whole-number API arguments (seed, dpi, workers, ...), which argparse's ``type=int`` makes on
    the command line; each caller adds its own bounds and message.
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None
