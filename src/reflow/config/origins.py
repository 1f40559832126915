"""Key origins: which file of an `extends` chain set each key of a merged config, for messages that name it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

KeyPath = tuple[str | int, ...]


class KeyOrigins:
    """Which file of an `extends` chain set each key of the merged config, for messages that name that file.

    Filled as `load_raw_traced` merges: a map from the key path of every value in the merged dict (list entries
    by position) to the file it came from, and the chain of files, the one loaded (the user's) first.
    """

    def __init__(self) -> None:
        self.chain: list[str] = []
        self.files: dict[KeyPath, str] = {}

    def set_by(self, path: KeyPath, value: Any, file: str) -> None:
        """Record that `file` set `path` to `value` (replacing whatever a base file had there)."""
        n = len(path)
        for old in [q for q in self.files if q[:n] == path]:
            del self.files[old]
        for leaf in _leaf_paths(value, path):
            self.files[leaf] = file

    def under(self, path: KeyPath) -> set[str]:
        """The files that set `path` or any key inside it."""
        n = len(path)
        return {f for q, f in self.files.items() if q[:n] == path}

    def describe(self, file: str, source: str) -> str:
        """Where `file` sits for a config read as `source`: '' for the file itself, else its place in the chain."""
        if file == source or file not in self.chain:
            return ""
        d = self.chain.index(file)
        if d == 0:
            return f"in {file}"
        through = f" through {', '.join(self.chain[1:d])}" if d > 1 else ""
        return f"in {file}, which {self.chain[0]} extends{through}"


def _leaf_paths(value: Any, path: KeyPath) -> list[KeyPath]:
    if isinstance(value, Mapping) and value:
        return [q for k, v in value.items() for q in _leaf_paths(v, (*path, k))]
    if isinstance(value, list) and value:
        return [q for i, v in enumerate(value) for q in _leaf_paths(v, (*path, i))]
    return [path]
