"""Record values (JSON documents) as one newline-delimited buffer, for Arrow's JSON reader.

One Arrow kernel appends the newlines; the result's data buffer is handed over without a copy
and without a Python loop per record. Used by the delivery sink and the processor's decoder.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def ndjson(values: pa.Array) -> pa.Buffer:
    """``values`` (binary or large binary) joined, each followed by a newline."""
    if len(values) == 0:
        return pa.py_buffer(b"")
    joined = pc.binary_join_element_wise(values, pa.scalar(b"", values.type), b"\n")
    large = pa.types.is_large_binary(joined.type)
    width = 8 if large else 4
    offsets = np.frombuffer(joined.buffers()[1], np.int64 if large else np.int32,
                            count=len(joined) + 1, offset=joined.offset * width)
    return joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
