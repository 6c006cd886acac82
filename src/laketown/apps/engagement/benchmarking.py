"""Measurements for ``benchmarks/engagement.py``: journey trigger latency (an event until the
message is stored by the SMTP sink) and sending throughput against plain ``smtplib`` on the
same aiosmtpd sink. Timings on a shared machine are noisy; run them more than once."""

from __future__ import annotations

import multiprocessing as mp
import smtplib
import tempfile
import threading
import time
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import numpy as np

TRIGGER_JOURNEY = {
    "journey_id": "bench_trigger", "trigger": "cart_abandoned", "start": "remind",
    "steps": {"remind": {"type": "send", "template": "bench_reminder", "next": "end"}, "end": {"type": "exit"}},
}
HTML = "<html><body><p>Hi {{ given_name }}, your cart in {{ city }} is waiting.</p>" \
       '<p><a href="https://shop.example.com/cart">Back to the cart</a></p></body></html>'


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p99_ms": round(float(np.percentile(a, 99)), 2),
            "mean_ms": round(float(a.mean()), 2), "max_ms": round(float(a.max()), 2)}


def measure_trigger_latency(ws: Any, n_users: int) -> dict[str, Any]:
    """For each of ``n_users``: a ``cart_abandoned`` event enters a journey whose first activity
    sends an email; the time until the sink has stored that message. Events are sent one after
    the other (latency, not throughput)."""
    from laketown.apps.engagement import simulate
    from laketown.apps.engagement.sender import message_id_for, token_for
    from laketown.apps.engagement.service import Engagement
    from laketown.apps.engagement.smtp_sink import SmtpSink

    with tempfile.TemporaryDirectory() as tmp:
        sink = SmtpSink(Path(tmp) / "mailbox").start()
        arrived: dict[str, float] = {}
        done = threading.Condition()

        def on_store(message_id: str, _: Path) -> None:
            with done:
                arrived[message_id.strip()] = time.perf_counter()
                done.notify_all()

        sink.mailbox.listeners.append(on_store)
        eng = Engagement(ws, smtp_mode="relay", smtp_port=sink.port, email_rate_per_s=0)
        try:
            users = simulate.endpoints(n_users, seed=11)
            eng.endpoints.upsert(users)
            eng.templates.save("bench_reminder", "Your cart, {{ given_name }}", HTML)
            eng.journeys.create(TRIGGER_JOURNEY, replace=True)
            eng.store.execute("DELETE FROM journey_state WHERE journey_id=?", (TRIGGER_JOURNEY["journey_id"],))
            latencies = []
            for u in users:
                t0 = time.perf_counter()
                eng.ingest(u["user_id"], "cart_abandoned")
                entered = eng.store.one("SELECT entered_at FROM journey_state WHERE journey_id=? AND user_id=?",
                                        (TRIGGER_JOURNEY["journey_id"], u["user_id"]))["entered_at"]
                key = f"j:bench_trigger:{entered:.6f}:remind:{u['user_id']}"
                mid = message_id_for(token_for(key))
                with done:
                    done.wait_for(lambda m=mid: m in arrived, timeout=10)
                if mid in arrived:
                    latencies.append((arrived[mid] - t0) * 1000)
            out = {"n": n_users, "arrived": len(latencies), **_percentiles(latencies or [float("nan")])}
        finally:
            eng.close()
            sink.stop()
    return out


def _plain_smtplib(port: int, users: list[dict[str, Any]]) -> float:
    """The baseline: an f-string message per user, built with the fast compat32 MIME classes
    (the same ones Laketown uses; ``EmailMessage`` would make the baseline slower), sent over
    one connection."""
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for u in users:
            msg = MIMEMultipart("alternative")
            msg["From"], msg["To"], msg["Subject"] = "Laketown <news@laketown.local>", u["email"], f"Spring, {u['given_name']}"
            msg.attach(MIMEText(f"Hi {u['given_name']}, spring offers in {u['city']}.", "plain", "utf-8"))
            msg.attach(MIMEText(f"<p>Hi {u['given_name']}, spring offers in {u['city']}.</p>", "html", "utf-8"))
            conn.send_message(msg)
    return time.perf_counter() - t0


def _serve_sink(folder: str, port: int, ready: Any, stop: Any) -> None:
    """Child process: the SMTP sink, apart from the senders (as a mail server would be)."""
    from laketown.apps.engagement.smtp_sink import SmtpSink

    sink = SmtpSink(folder, port=port).start()
    ready.set()
    stop.wait()
    sink.stop()


def measure_send_throughput(n_messages: int) -> dict[str, Any]:
    """Messages per second into one aiosmtpd sink: a Laketown campaign (sandboxed template,
    tracking links, outbox records, events to the stream) vs a loop of ``smtplib`` sends of a
    similar message over one connection. Each side runs twice, alternating; the best run counts."""
    import laketown
    from laketown.apps.engagement import simulate
    from laketown.apps.engagement.service import Engagement
    from laketown.apps.engagement.smtp_sink import Mailbox, free_port

    users = simulate.endpoints(n_messages, seed=5)
    best = {"laketown": 0.0, "smtplib": 0.0}
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        # the sink runs in its own process: in this one it would share the interpreter lock with
        # the sender and slow down whichever side does more work per message
        port, ready, stop = free_port(), ctx.Event(), ctx.Event()
        server = ctx.Process(target=_serve_sink, args=(str(Path(tmp) / "mailbox"), port, ready, stop), daemon=True)
        server.start()
        if not ready.wait(60):
            server.kill()
            raise RuntimeError("the SMTP sink process did not start within 60 s")
        mailbox = Mailbox(Path(tmp) / "mailbox")
        ws = laketown.connect(Path(tmp) / "ws")
        eng = Engagement(ws, smtp_mode="relay", smtp_port=port, email_rate_per_s=0)
        try:
            eng.endpoints.upsert(users)
            eng.templates.save("bench", "Spring, {{ given_name }}", HTML.replace("your cart", "spring offers"))
            for rnd in range(2):
                s = _plain_smtplib(port, users)
                best["smtplib"] = max(best["smtplib"], n_messages / s)
                cid = f"bench{rnd}"
                eng.campaigns.create({"campaign_id": cid, "template": "bench"})
                t0 = time.perf_counter()
                res = eng.campaigns.send(cid)
                s = time.perf_counter() - t0
                if res.get("delivered") != n_messages:
                    raise RuntimeError(f"benchmark campaign delivered {res.get('delivered')} of {n_messages}: {res}")
                best["laketown"] = max(best["laketown"], n_messages / s)
            stored = mailbox.count()
        finally:
            eng.close()
            ws.close()
            stop.set()
            server.join(30)
    return {"n": n_messages, "stored_at_sink": stored, "sink": "aiosmtpd in its own process",
            "laketown": {"messages_per_s": round(best["laketown"], 1)},
            "smtplib": {"messages_per_s": round(best["smtplib"], 1)},
            "ratio": {"messages_per_s": round(best["laketown"] / best["smtplib"], 3)}}
