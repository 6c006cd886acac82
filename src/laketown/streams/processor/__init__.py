"""Stream processor: keyed event-time windows, watermarks, lateness, lookups, checkpoints.

The pure core (:mod:`windows`, :mod:`aggregations`, :mod:`watermarks`,
:mod:`window_operator`) works on Arrow tables with no I/O; :mod:`job` declares a job and runs
it over a Stream backend's consumer group with checkpoints.
"""

from laketown.streams.processor.aggregations import (
    Aggregation,
    count,
    custom,
    first,
    last,
    max,
    mean,
    min,
    stddev,
    sum,
)
from laketown.streams.processor.job import Job
from laketown.streams.processor.runner import Runner, RunStats, run
from laketown.streams.processor.window_operator import (
    EVENT_TIME,
    WindowOperator,
    WindowOutput,
)
from laketown.streams.processor.windows import (
    WindowAssigner,
    parse_duration,
    sliding,
    tumbling,
)

__all__ = [
    "EVENT_TIME",
    "Aggregation",
    "Job",
    "RunStats",
    "Runner",
    "WindowAssigner",
    "WindowOperator",
    "WindowOutput",
    "count",
    "custom",
    "first",
    "last",
    "max",
    "mean",
    "min",
    "parse_duration",
    "run",
    "sliding",
    "stddev",
    "sum",
    "tumbling",
]
