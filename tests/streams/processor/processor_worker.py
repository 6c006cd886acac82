"""A processor worker process for the crash tests: ``python processor_worker.py ROOT CKPT OUT JOB
[--die-in-map-after N] [--die-in-sink-after N]``. Results go to an idempotent file sink: one
file per (partition, checkpoint), so a re-delivered checkpoint overwrites its own file."""

import argparse
import logging
import os
import signal
from pathlib import Path

import pyarrow as pa

from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.processor import count, last, max, mean, tumbling
from laketown.streams.processor.checkpoints import write_atomic
from laketown.streams.processor.job import Job
from laketown.streams.processor.runner import run

SOURCE = "telemetry"


def build(name: str, out: Path, die_in_map_after: int | None = None, die_in_sink_after: int | None = None) -> Job:
    batches = [0]
    deliveries = [0]

    def maybe_die_in_map(t: pa.Table) -> pa.Table:
        batches[0] += 1
        if die_in_map_after is not None and batches[0] > die_in_map_after:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-window, with held outputs not yet checkpointed
        return t

    def file_sink(kind: str):
        def write(t: pa.Table) -> None:
            meta = t.schema.metadata
            p, seq = int(meta[b"laketown.partition"]), int(meta[b"laketown.checkpoint"])
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, t.schema) as w:
                w.write_table(t)
            write_atomic(out / f"{kind}-p{p}-c{seq:06d}.arrow", sink.getvalue().to_pybytes())
            if kind == "results":
                deliveries[0] += 1
                if die_in_sink_after is not None and deliveries[0] >= die_in_sink_after:
                    os.kill(os.getpid(), signal.SIGKILL)  # delivered, not yet marked delivered

        return write

    return (
        Job(name, source=SOURCE)
        .decode_json(time_field="ts")
        .map(maybe_die_in_map)
        .window(
            tumbling("1m"),
            key="device",
            aggs={"n": count(), "temp_mean": mean("temp"), "temp_max": max("temp"), "temp_last": last("temp")},
            lateness="30s",
            out_of_orderness="5s",
        )
        .to_callback(file_sink("results"))
        .on_late(file_sink("late"))
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    for a in ("root", "ckpt", "out", "job"):
        ap.add_argument(a)
    ap.add_argument("--die-in-map-after", type=int)
    ap.add_argument("--die-in-sink-after", type=int)
    ap.add_argument("--input-done", help="stop once caught up only after this file exists")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=out / f"worker-{os.getpid()}.log", level=logging.INFO,
        format="%(relativeCreated)d %(message)s",
    )
    job = build(args.job, out, args.die_in_map_after, args.die_in_sink_after)
    backend = EmbeddedStreams(args.root, session_timeout_s=1.5)
    stats = run(
        job,
        backend,
        args.ckpt,
        checkpoint_every_batches=2,
        checkpoint_every_s=0.5,
        max_records=300,
        poll_timeout_s=0.05,
        flush_on_stop=True,
        until=lambda r: (args.input_done is None or Path(args.input_done).exists()) and r.caught_up(),
    )
    print("done", stats.records, sorted(stats.partitions), flush=True)


if __name__ == "__main__":
    main()
