"""Read-only attributes of the thin agents that view one entry of a struct of arrays (a fleet or population).

The model's weekly arithmetic works on the arrays; an agent reads its entry when asked, never copies it, so it
always shows the fleet as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, Generic, TypeVar, overload

__all__ = ["RowView"]

T = TypeVar("T")


class RowView(Generic[T]):
    """An agent attribute that reads entry `index` of the array `array` on the agent's fleet, converted by `cast`.

    Declared in the class body, e.g. ``stock = RowView("stock", float, "t held.")``; the docstring is what
    `help()` shows for the attribute, so it should say the unit.

    Args:
        array: name of the array on the fleet.
        cast: turns the array's entry (a numpy scalar, or a row) into what the agent returns.
        doc: the attribute's docstring.
        of: name of the agent's attribute that holds the fleet.
    """

    def __init__(self, array: str, cast: Callable[[Any], T], doc: str, *, of: str = "fleet") -> None:
        self.array = array
        self.cast = cast
        self.of = of
        self.__doc__ = doc
        self.name = array
        self._rows = attrgetter(f"{of}.{array}")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> RowView[T]: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> RowView[T] | T:
        if obj is None:
            return self
        return self.cast(self._rows(obj)[obj.index])  # type: ignore[attr-defined]

    def __set__(self, obj: object, value: object) -> None:
        # A data descriptor (like a property without a setter), so an instance cannot shadow the fleet's value.
        raise AttributeError(f"{type(obj).__name__}.{self.name} is read-only: it shows "
                             f"{self.of}.{self.array}[index]; change that array instead")
