"""Small helpers shared by the typed config dataclasses: to_dict / from_dict with strict keys."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], values: dict[str, Any], *, source: str = "config") -> T:
    """Build `cls` from a dict; unknown keys are an error (a typo must not pass silently)."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} key(s) in {source}: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    return cls(**values)


class DictConfig:
    """A config dataclass's to_dict() and from_dict(values, source) (strict keys), for a base class:
    `@dataclass class HeadConfig(DictConfig): ...`."""

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> Self:
        return config_from_dict(cls, values, source=source)
