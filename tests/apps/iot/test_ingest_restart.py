"""Ingest's duplicate filter survives restarts: the last seq per device is checkpointed with the
telemetry stream's offsets, and records produced after the last checkpoint (a crash) are read
back from the stream on start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib
from collections import Counter

import laketown
from laketown.apps.iot.ingest import TELEMETRY_STREAM, Ingest


def _msgs(dev: str, seqs) -> list[tuple[str, bytes, int]]:
    return [(f"devices/{dev}/telemetry", json.dumps({"seq": s, "ts": 1_000 + s, "temp": 50.0 + s}).encode(), 7)
            for s in seqs]


def _zlib_batch(dev: str, seqs) -> tuple[str, bytes, int]:
    body = json.dumps([{"seq": s, "ts": 1_000 + s, "temp": 1.0} for s in seqs]).encode()
    return f"devices/{dev}/telemetry", zlib.compress(body), 7


def _ingest(ws, state) -> Ingest:
    return Ingest(ws.streams, "127.0.0.1", 1, ("unused", "unused"), state_path=str(state))  # never started: no broker


def _stream_seqs(ws) -> Counter:
    with ws.streams.consumer(TELEMETRY_STREAM) as c:
        got = []
        while True:
            t = c.poll(timeout_s=0.5)
            if not t.num_rows:
                break
            got += [(r["device_id"], r["seq"]) for r in map(json.loads, t.column("value").to_pylist())]
    return Counter(got)


def test_restarted_ingest_drops_replayed_records(ws, tmp_path):
    state = tmp_path / "ingest-seq.json"
    first = _ingest(ws, state)
    assert first.process(_msgs("d1", range(50)) + _msgs("d2", range(20))) == 70
    first.close()
    assert json.loads(state.read_text())["last_seq"] == {"d1": 49, "d2": 19}

    again = _ingest(ws, state)
    # an agent re-sends what it never saw acknowledged, then new records: singles and a zlib batch
    assert again.process(_msgs("d1", range(40, 60))) == 10
    assert again.process([_zlib_batch("d2", range(15, 25))]) == 5
    assert again.stats.duplicates == 15
    again.close()
    seqs = _stream_seqs(ws)
    assert sorted(seqs) == [("d1", s) for s in range(60)] + [("d2", s) for s in range(25)]
    assert set(seqs.values()) == {1}


CHILD = textwrap.dedent("""
    import json, sys, time
    import laketown
    from laketown.apps.iot.ingest import Ingest
    ws = laketown.connect(sys.argv[1])
    ing = Ingest(ws.streams, "127.0.0.1", 1, ("unused", "unused"), state_path=sys.argv[2])
    def msgs(seqs):
        return [("devices/d1/telemetry", json.dumps({"seq": s, "ts": 1000 + s}).encode(), 0) for s in seqs]
    ing.process(msgs(range(0, 30)))
    ing.seq.save()                 # checkpoint after the first 30
    ing.seq.every_s = 1e9          # ... and none after the next 20
    ing.process(msgs(range(30, 50)))
    print("produced", flush=True)
    time.sleep(60)
""")


def test_records_produced_after_the_last_checkpoint_count_after_a_kill(tmp_path):
    path, state = tmp_path / "ws", tmp_path / "ingest-seq.json"
    laketown.connect(path).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(state)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "produced"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert json.loads(state.read_text())["last_seq"] == {"d1": 29}

    ws = laketown.connect(path)
    try:
        ing = _ingest(ws, state)
        assert ing.seq.replayed == 20  # read back from the stream, after the checkpoint's offsets
        assert ing.process(_msgs("d1", range(70))) == 20
        assert ing.stats.duplicates == 50
        ing.close()
        seqs = _stream_seqs(ws)
        assert sorted(seqs) == [("d1", s) for s in range(70)] and set(seqs.values()) == {1}
    finally:
        ws.close()
