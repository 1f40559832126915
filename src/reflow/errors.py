"""User-facing errors: printed by the CLI as one clear message, without a traceback."""

from __future__ import annotations

__all__ = ["ConfigError", "ReflowError", "ResultExistsError", "ResultReadError", "UsageError"]


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
