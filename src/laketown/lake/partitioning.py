"""Partition specs written as short strings: ``"region"``, ``"day(ts)"``, ``"bucket(16, id)"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)

from laketown.errors import LaketownError

_PATTERN = re.compile(r"^\s*(?:(\w+)\s*\(\s*(?:(\d+)\s*,\s*)?(\w+)\s*\)|(\w+))\s*$")
TRANSFORMS = ("identity", "year", "month", "day", "hour", "bucket", "truncate")


@dataclass(frozen=True)
class PartitionField:
    source: str
    transform: Transform
    name: str


def parse_partition(expr: str) -> PartitionField:
    """Parse one partition expression; the partition field is named ``<source>_<transform>``."""
    m = _PATTERN.match(expr)
    if not m:
        raise LaketownError(
            f"cannot read partition expression {expr!r}; write a column name or one of "
            "identity(col), year(col), month(col), day(col), hour(col), bucket(N, col), truncate(W, col)"
        )
    func, width, source, bare = m.groups()
    if bare:
        return PartitionField(bare, IdentityTransform(), bare)
    func = func.lower()
    if func not in TRANSFORMS:
        raise LaketownError(f"unknown partition transform {func!r} in {expr!r}; known: {', '.join(TRANSFORMS)}")
    if func in ("bucket", "truncate"):
        if width is None:
            raise LaketownError(f"{func} needs a width: {func}(N, {source}), got {expr!r}")
        transform: Transform = BucketTransform(int(width)) if func == "bucket" else TruncateTransform(int(width))
        return PartitionField(source, transform, f"{source}_{func}")
    if width is not None:
        raise LaketownError(f"{func} takes one argument, got {expr!r}")
    transform = {
        "identity": IdentityTransform(),
        "year": YearTransform(),
        "month": MonthTransform(),
        "day": DayTransform(),
        "hour": HourTransform(),
    }[func]
    name = source if func == "identity" else f"{source}_{func}"
    return PartitionField(source, transform, name)
