"""``laketown engagement ...``: endpoints, templates, campaigns, journeys, the SMTP sink, the
worker, KPIs, and (from the churn module) ``engagement churn ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from laketown.errors import LaketownError

app = typer.Typer(help="Customer engagement: endpoints, templates, campaigns, journeys over SMTP and webhooks.",
                  no_args_is_help=True)
endpoints_app = typer.Typer(help="Users with channels, attributes, timezone and consent.", no_args_is_help=True)
template_app = typer.Typer(help="Sandboxed Jinja2 message templates.", no_args_is_help=True)
campaign_app = typer.Typer(help="Immediate, scheduled and recurring campaigns.", no_args_is_help=True)
journey_app = typer.Typer(help="Event-triggered journeys.", no_args_is_help=True)
sink_app = typer.Typer(help="The local SMTP sink (aiosmtpd on 127.0.0.1).", no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")
app.add_typer(template_app, name="template")
app.add_typer(campaign_app, name="campaign")
app.add_typer(journey_app, name="journey")
app.add_typer(sink_app, name="smtp-sink")

try:  # the churn commands live with the churn model (added when that module is installed)
    from laketown.apps.engagement.churn_cli import app as churn_app

    app.add_typer(churn_app, name="churn")
except ImportError:
    pass


def _workspace() -> Any:
    from laketown.cli import open_workspace

    return open_workspace()


def _engagement() -> Any:
    from laketown.apps.engagement.service import Engagement

    return Engagement(_workspace())


def _print(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


def _send_with_progress(eng: Any, campaign_id: str) -> dict[str, Any]:
    """A campaign run with a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(f"campaign {campaign_id}", total=None)
        return eng.campaigns.send(campaign_id, on_progress=lambda done, total: progress.update(task, completed=done, total=total))


def _json_arg(value: str, what: str) -> Any:
    """JSON given inline or as a file path."""
    text = Path(value).read_text() if not value.lstrip().startswith(("{", "[")) and Path(value).is_file() else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LaketownError(f"{what} is neither a JSON file nor JSON text ({exc.msg} at column {exc.colno}): {value[:60]!r}") from None


@endpoints_app.command("import")
def endpoints_import(
    file: Annotated[Path | None, typer.Argument(help="CSV with user_id and optional email, webhook_url, timezone, "
                                                "opt_in, unsubscribed; other columns become attributes.")] = None,
    c360: Annotated[bool, typer.Option("--c360", help="Import curated.c360_segments (Customer 360) instead.")] = False,
) -> None:
    """Import endpoints (insert or update) and refresh clean.engagement_endpoints."""
    if (file is None) == (not c360):
        raise LaketownError("give a CSV file or --c360 (one of them)")
    eng = _engagement()
    n = eng.endpoints.import_c360(eng.ws) if c360 else eng.endpoints.import_csv(file)  # type: ignore[arg-type]
    _print({"imported": n, "endpoints": eng.endpoints.count(), "lake_rows": eng.endpoints.export_to_lake(eng.ws)})


@endpoints_app.command("list")
def endpoints_list(limit: Annotated[int, typer.Option(help="How many.")] = 20) -> None:
    """Endpoints as JSON lines."""
    for row in _engagement().endpoints.all()[:limit]:
        _print(row)


@endpoints_app.command("unsubscribe")
def endpoints_unsubscribe(user_id: str) -> None:
    """Unsubscribe a user now (no message is sent to them from this moment on)."""
    if not _engagement().endpoints.unsubscribe(user_id):
        raise LaketownError(f"unknown user {user_id!r}")
    _print({"unsubscribed": user_id})


@template_app.command("save")
def template_save(
    name: str,
    subject: Annotated[str, typer.Option(help="Subject template, e.g. 'Hi {{ given_name }}'.")],
    html: Annotated[Path, typer.Option(help="File with the HTML template.")],
    text: Annotated[Path | None, typer.Option(help="File with the plain-text template.")] = None,
    defaults: Annotated[str, typer.Option(help='Defaults of variables, JSON: {"given_name": "there"}.')] = "{}",
) -> None:
    """Save (or replace) a template after checking that it parses."""
    if not html.is_file():
        raise LaketownError(f"HTML template file {str(html)!r} does not exist")
    _engagement().templates.save(name, subject, html.read_text(), text.read_text() if text else None,
                                 _json_arg(defaults, "--defaults"))
    _print({"saved": name})


@template_app.command("preview")
def template_preview(name: str, user: Annotated[str, typer.Option(help="Render for this user_id.")]) -> None:
    """Render a template for one endpoint, without sending."""
    from laketown.apps.engagement.templates_store import render

    eng = _engagement()
    endpoint = eng.endpoints.get(user)
    if endpoint is None:
        raise LaketownError(f"unknown user {user!r}; import endpoints first")
    out = render(eng.templates.get(name), endpoint, {"unsubscribe_url": "#unsubscribe"})
    _print(out.__dict__)


@template_app.command("test-send")
def template_test_send(name: str, user: Annotated[str, typer.Option(help="Send to this user_id.")]) -> None:
    """Send a template to one endpoint now."""
    import uuid

    from laketown.apps.engagement.sender import SendRequest

    eng = _engagement()
    _print(eng.sender.send(SendRequest(key=f"test:{name}:{uuid.uuid4().hex}", user_id=user, template=name)).__dict__)


@campaign_app.command("create")
def campaign_create(
    spec: Annotated[str, typer.Argument(help="Campaign JSON (file or text): campaign_id, template or variants, "
                                        "holdout_pct, segment, channel, schedule {type, at, every_s}.")],
    send: Annotated[bool, typer.Option(help="Send an immediate campaign right away.")] = True,
) -> None:
    """Create a campaign (and send it, if immediate)."""
    eng = _engagement()
    c = eng.campaigns.create(_json_arg(spec, "campaign spec"))
    out: dict[str, Any] = {"created": c.campaign_id}
    if send and c.schedule.type == "immediate":
        out["result"] = _send_with_progress(eng, c.campaign_id)
    _print(out)


@campaign_app.command("send")
def campaign_send(campaign_id: str) -> None:
    """Run a campaign now."""
    _print(_send_with_progress(_engagement(), campaign_id))


@campaign_app.command("list")
def campaign_list() -> None:
    """Campaigns with their message counts, as JSON lines."""
    for c in _engagement().campaigns.list():
        _print(c)


@journey_app.command("create")
def journey_create(
    spec: Annotated[str, typer.Argument(help="Journey JSON (file or text): journey_id, trigger, start, steps.")],
    replace: Annotated[bool, typer.Option(help="Replace a journey of the same id.")] = False,
) -> None:
    """Create a journey (active at once)."""
    _print({"created": _engagement().journeys.create(_json_arg(spec, "journey spec"), replace=replace).journey_id})


@journey_app.command("list")
def journey_list() -> None:
    """Journeys with users per step, as JSON lines."""
    for j in _engagement().journeys.list():
        _print(j)


@app.command("event")
def event_cmd(
    user_id: str, event_type: str,
    queue: Annotated[bool, typer.Option(help="Only enter journeys; the worker runs the steps.")] = False,
) -> None:
    """Record an app event (e.g. cart_abandoned): journeys it triggers start for the user."""
    _print(_engagement().ingest(user_id, event_type, advance=not queue))


@app.command("worker")
def worker(
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
    until_idle: Annotated[bool, typer.Option(help="Stop when no journey user, deferred message or campaign is pending.")] = False,
) -> None:
    """Run due journey steps, scheduled campaigns and deferred messages (one worker per
    workspace; it first settles sends a crashed process left in flight)."""
    _print(_engagement().run_worker(max_seconds=max_seconds, until_idle=until_idle))


@app.command("kpis")
def kpis_cmd(by: Annotated[str, typer.Option(help="campaign, journey_step, day or hour.")] = "campaign",
             deliver: Annotated[bool, typer.Option(help="First move pending events into the lake.")] = True) -> None:
    """Delivery, open, click-through, conversion and unsubscribe rates from raw.engagement_events."""
    from laketown.apps.engagement.events import deliver as deliver_events
    from laketown.apps.engagement.kpis import kpis

    ws = _workspace()
    if deliver:
        deliver_events(ws)
    for row in kpis(ws, by):
        _print(row)


@sink_app.command("serve")
def sink_serve(port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).")] = 2525) -> None:
    """Run the workspace's SMTP sink until Ctrl-C; messages go to <workspace>/engagement/mailbox."""
    import time

    from laketown.apps.engagement.smtp_sink import start_sink

    sink = start_sink(_workspace(), port=port)
    typer.echo(f"SMTP sink on {sink.host}:{sink.port}; messages in {sink.mailbox.folder}", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()
