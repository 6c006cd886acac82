"""The runner over the real embedded stream backend: worker processes killed with SIGKILL
restart from their checkpoints with the same window output; a second worker of the group takes
over a killed worker's partitions without duplicating or losing a window result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from laketown.streams.backends.embedded import EmbeddedStreams
from laketown.streams.processor.checkpoints import CheckpointStore

pytestmark = pytest.mark.crash

HERE = Path(__file__).resolve().parent
SRC = str(HERE.parents[2] / "src")
WORKER = str(HERE / "processor_worker.py")
PARTITIONS = 4


def _events(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    ts = 1_767_225_600_000 + np.arange(n) * 150 + rng.integers(0, 4_000, n)
    late = rng.random(n) < 0.05
    ts = ts - late * rng.integers(10_000, 120_000, n)  # some within lateness, some too late
    return [
        {"device": f"d{int(d)}", "ts": int(t), "temp": round(float(v), 3)}
        for d, t, v in zip(rng.integers(0, 40, n), ts, rng.normal(20, 4, n))
    ]


def _produce(root: Path, events: list[dict]) -> None:
    backend = EmbeddedStreams(root)
    backend.create_stream("telemetry", partitions=PARTITIONS, exist_ok=True)
    with backend.producer("telemetry") as p:
        for i in range(0, len(events), 500):
            p.produce_json(events[i : i + 500], key_field="device")


def _spawn(root: Path, ckpt: Path, out: Path, job: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen(
        [sys.executable, WORKER, str(root), str(ckpt), str(out), job, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out


def _read(out: Path, kind: str) -> list[dict]:
    rows = []
    for f in sorted(out.glob(f"{kind}-p*-c*.arrow"), key=lambda f: (f.name.split("-")[1], f.name)):
        rows += pa.ipc.open_stream(f.read_bytes()).read_all().to_pylist()
    return rows


def _summary(out: Path):
    rows = _read(out, "results")
    fired: dict[tuple, dict] = {}
    final: dict[tuple, dict] = {}
    for r in rows:
        k = (r["device"], r["window_start"])
        if not r["is_update"]:
            assert k not in fired, f"window result duplicated: {k}"
            fired[k] = r
        final[k] = r
    late = sorted((r["_partition"], r["_offset"]) for r in _read(out, "late"))
    return fired, final, late


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        for col in ("n", "temp_max", "temp_last", "is_update"):
            assert a[k][col] == b[k][col], (k, col)
        assert a[k]["temp_mean"] == pytest.approx(b[k]["temp_mean"], rel=1e-12), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One worker, never interrupted, over the same events."""
    base = tmp_path_factory.mktemp("ref")
    _produce(base / "streams", _events(12_000))
    _finish(_spawn(base / "streams", base / "ckpt", base / "out", "iot-ref"))
    fired, final, late = _summary(base / "out")
    assert len(fired) > 100 and late and any(r["is_update"] for r in final.values())
    return fired, final, late


@pytest.mark.parametrize("where", [["--die-in-map-after", "9"], ["--die-in-sink-after", "3"]])
def test_worker_killed_mid_window_restarts_with_same_output(tmp_path, reference, where):
    _produce(tmp_path / "streams", _events(12_000))
    first = _spawn(tmp_path / "streams", tmp_path / "ckpt", tmp_path / "out", "iot", *where)
    first.communicate(timeout=120)
    assert first.returncode == -signal.SIGKILL
    assert list((tmp_path / "ckpt" / "iot").glob("p-*.ckpt")), "killed before any checkpoint"
    _finish(_spawn(tmp_path / "streams", tmp_path / "ckpt", tmp_path / "out", "iot"))
    fired, final, late = _summary(tmp_path / "out")
    _assert_same(fired, reference[0])
    _assert_same(final, reference[1])
    assert late == reference[2]


def test_second_worker_takes_over_partitions_of_a_killed_worker(tmp_path, reference):
    events = _events(12_000)
    root = tmp_path / "streams"
    _produce(root, events[:6_000])
    done = tmp_path / "input-done"  # the workers run on until the input is complete
    a = _spawn(root, tmp_path / "ckpt", tmp_path / "out", "iot", "--input-done", str(done))
    b = _spawn(root, tmp_path / "ckpt", tmp_path / "out", "iot", "--input-done", str(done))
    try:
        store = CheckpointStore(tmp_path / "ckpt", "iot")
        deadline = time.monotonic() + 60
        while True:  # until each worker has checkpointed partitions of its own
            writers = {c.info["pid"] for c in map(store.load, range(PARTITIONS)) if c is not None}
            if writers >= {a.pid, b.pid}:
                break
            assert time.monotonic() < deadline, f"workers did not both checkpoint: {writers}"
            for w in (a, b):
                assert w.poll() is None, f"worker exited {w.returncode}: {w.communicate()[1][-3000:]}"
            time.sleep(0.05)
        os.kill(a.pid, signal.SIGKILL)
        a.wait(timeout=10)
        _produce(root, events[6_000:])
        done.touch()
        out = _finish(b)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert out.startswith("done")
    assert sorted(map(int, out.split("[")[1].rstrip("]\n").split(","))) == list(range(PARTITIONS))
    fired, final, late = _summary(tmp_path / "out")
    _assert_same(fired, reference[0])
    _assert_same(final, reference[1])
    assert late == reference[2]
