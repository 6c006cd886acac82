"""`laketown run`: a processor job declared in Python writes window results to a lake table,
exactly once, also when a worker is killed with SIGKILL and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time


import laketown

JOB = textwrap.dedent(
    """
    from laketown.streams.processor import Job, count, max, mean, tumbling

    job = (Job("temps-1m", source="temps", group="temps-1m")
           .decode_json(time_field="ts")
           .window(tumbling("1m"), key=["device"], aggs={"n": count(), "avg_temp": mean("temp"),
                   "max_temp": max("temp")}, out_of_orderness="0s")
           .to_table("curated.temps_1m"))
    """
)
MINUTES, DEVICES, PER_MINUTE = 12, 5, 20


def _produce(ws):
    ws.streams.create_stream("temps", partitions=2)
    rows = []
    for minute in range(MINUTES):
        for d in range(DEVICES):
            for i in range(PER_MINUTE):
                rows.append({"device": f"d{d}", "temp": float(d * 10 + i % 7),
                             "ts": 1_767_225_600_000 + minute * 60_000 + i * 2_000})
    with ws.streams.producer("temps") as prod:
        for lo in range(0, len(rows), 100):
            prod.produce_json(rows[lo:lo + 100], key_field="device")
    return rows


def _run(ws_path, jobfile, *args, wait=True):
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(ws_path)}
    cmd = [sys.executable, "-m", "laketown", "run", f"{jobfile}:job", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if wait:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        return json.loads(out[out.index("{"):])
    return proc


def test_windows_land_in_the_lake_once_through_a_kill(tmp_path):
    ws = laketown.connect(tmp_path / "ws")
    _produce(ws)
    jobfile = tmp_path / "jobs.py"
    jobfile.write_text(JOB)
    proc = _run(ws.path, jobfile, "--checkpoint-every", "0.2", wait=False)
    time.sleep(4)  # some checkpoints and deliveries happen, then the worker dies hard
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    # the killed member holds its partitions until its session times out (6 s), then this one adopts them
    stats = _run(ws.path, jobfile, "--idle-polls", "60", "--flush-on-stop")
    assert stats["job"] == "temps-1m"
    got = ws.sql("SELECT device, window_start, n, avg_temp, max_temp FROM curated.temps_1m").to_pylist()
    keys = [(r["device"], r["window_start"]) for r in got]
    assert len(keys) == len(set(keys)) == MINUTES * DEVICES  # every window once, none twice
    assert all(r["n"] == PER_MINUTE for r in got)
    d3 = [r for r in got if r["device"] == "d3"]
    assert all(r["max_temp"] == 36.0 for r in d3)
    statuses = [j for j in json.loads((ws.path / "jobs" / "job-temps-1m.json").read_text()).items()]
    assert ("kind", "processor") in statuses


def test_bad_job_target_is_a_clear_error(tmp_path):
    env = {**os.environ, "LAKETOWN__WORKSPACE": str(tmp_path / "ws")}
    (tmp_path / "jobs.py").write_text("x = 1\n")
    out = subprocess.run([sys.executable, "-m", "laketown", "run", f"{tmp_path / 'jobs.py'}:job"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "has no 'job'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "laketown", "run", "nojobhere"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and "FILE.py:NAME" in out.stderr
