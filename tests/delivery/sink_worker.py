"""A sink process for crash tests: ``python sink_worker.py WS STREAM TABLE [--die-at-commit N]``.

With ``--die-at-commit N`` it SIGKILLs itself inside the N-th Iceberg commit, after the data
files were written and before the catalog points at them: the worst moment for exactly-once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace")
    ap.add_argument("stream")
    ap.add_argument("table")
    ap.add_argument("--die-at-commit", type=int, default=0)
    ap.add_argument("--partitions", default="")
    ap.add_argument("--idle-exit", type=float, default=2.0)
    ap.add_argument("--buffer-records", type=int, default=500)
    args = ap.parse_args()

    import laketown
    from laketown.streams.backends.embedded import EmbeddedStreams
    from laketown.streams.delivery import DeliverySink

    if args.die_at_commit:
        from pyiceberg.table import Transaction

        original = Transaction.commit_transaction
        count = {"n": 0}

        def dying_commit(self):  # data files exist on disk now; the catalog does not know them yet
            count["n"] += 1
            if count["n"] == args.die_at_commit:
                print("dying", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self)

        Transaction.commit_transaction = dying_commit

    ws = laketown.connect(args.workspace)
    streams = EmbeddedStreams(ws.path / "streams")
    parts = [int(p) for p in args.partitions.split(",")] if args.partitions else None
    sink = DeliverySink(ws.lake, streams, args.stream, args.table, partitions=parts,
                        buffer_records=args.buffer_records, buffer_seconds=0.2)
    stats = sink.run(idle_exit_s=args.idle_exit)
    print(f"done {stats.records_written}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
