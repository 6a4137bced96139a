"""`with` support for the adapters that hold files or connections and have a `close`."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """`with x:` closes `x` on the way out, whatever happened inside."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
