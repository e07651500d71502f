"""The report's HTML text around the charts: the header and the tables. Every value is escaped."""

from datetime import UTC, date, datetime
from html import escape
from typing import Any

from run_report.model import RunData
from run_report.results import parse_time

STATUS_CLASS = {"SUCCEEDED": "ok", "FAILED": "bad", "RUNNING": "running", "ABORTED": "warn", "TIMED_OUT": "warn"}
# DescribeMapRun's executionCounts, but total and resultsWritten
BATCH_STATUSES = {
    "succeeded": "succeeded",
    "failed": "failed",
    "timedOut": "timed out",
    "aborted": "aborted",
    "running": "running",
    "pending": "pending",
}
NOT_RECORDED = '<span class="muted">not recorded</span>'


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "—"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else e(value if value is not None else "—")


def s3_link(uri: str, region: str, console: bool) -> str:
    """An s3:// URI as text, linked to the S3 console when the run is on AWS."""
    if not uri:
        return NOT_RECORDED
    if not console or not uri.startswith("s3://"):
        return f"<code>{e(uri)}</code>"
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    kind = "buckets" if key.endswith("/") or not key else "object"
    url = f"https://s3.console.aws.amazon.com/s3/{kind}/{bucket}?region={region}&prefix={key}"
    return f'<a href="{e(url)}"><code>{e(uri)}</code></a>'


def header(data: RunData, console: bool) -> str:
    region = data.execution_arn.split(":")[3] if data.execution_arn.count(":") >= 3 else ""
    status = data.status
    badge = f'<span class="badge {STATUS_CLASS.get(status, "warn")}">{e(status)}</span>'
    parts = [f"<h1>Run <code>{e(data.run_id)}</code> {badge}</h1>"]
    if data.in_progress:
        parts.append(
            '<p class="banner running" id="in-progress">In progress: this report shows the run as of '
            f"{e(when(data.generated_at))}. Write it again once the run has ended for its full results.</p>"
        )
    if data.error or data.cause:
        parts.append(f'<p class="banner bad"><strong>{e(data.error)}</strong> {e(data.cause)}</p>')
    counts = data.counts
    facts = [
        ("Started", e(when(data.started_at))),
        ("Ended", e(when(data.stopped_at)) if data.stopped_at else "not yet"),
        ("Wall time", e(duration(data.wall_seconds))),
        ("Entries", number(data.total)),
        ("Succeeded", number(counts.get("SUCCEEDED", 0))),
        ("Failed", number(counts.get("FAILED", 0))),
        ("Not run", number(counts.get("NOT_RUN", 0))),
        ("Batches", batch_counts(data)),
        ("Entry durations", durations_text(data, "entries")),
        ("Batch durations", durations_text(data, "batches")),
        ("Results", s3_link(data.results_uri, region, console)),
        ("Summary", s3_link(data.summary_uri, region, console) if data.summary else NOT_RECORDED),
        ("Execution", execution_link(data.execution_arn, region, console)),
    ]
    parts.append('<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")
    if data.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{e(note)}</li>" for note in data.notes) + "</ul>")
    return "<header>" + "".join(parts) + "</header>"


def batch_counts(data: RunData) -> str:
    counts = {k: v for k, v in data.map_run_counts.items() if k in BATCH_STATUSES and v}
    text = ", ".join(f"{counts[k]:,} {BATCH_STATUSES[k]}" for k in BATCH_STATUSES if k in counts)
    return f"{len(data.batches):,}" + (f" ({e(text)})" if text else "")


def durations_text(data: RunData, kind: str) -> str:
    stats = (data.durations or {}).get(kind)
    if isinstance(stats, dict) and stats:
        shown = [f"{name} {duration(stats[name])}" for name in ("median", "p95", "max") if stats.get(name) is not None]
        return e(", ".join(shown)) or NOT_RECORDED
    if kind == "entries" and data.entry_seconds_max is not None:
        return e(f"mean {duration(data.entry_seconds_mean)}, max {duration(data.entry_seconds_max)} (from the results)")
    return NOT_RECORDED


def execution_link(arn: str, region: str, console: bool) -> str:
    if not console:
        return f"<code>{e(arn)}</code>"
    url = f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{arn}"
    return f'<a href="{e(url)}"><code>{e(arn)}</code></a>'


def table(headings: list[str], rows: list[list[str]], css: str = "") -> str:
    """ROWS hold HTML already escaped."""
    head = "".join(f"<th>{e(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def failures_table(data: RunData) -> str:
    rows = [
        [
            f"<code>{e(g.error)}</code>",
            e(g.status),
            number(g.count),
            f'<span class="name">{e(g.example_index)}: {e(g.example_name)}</span>'
            if g.example_index is not None
            else f'<span class="name">{e(g.example_name)}</span>',
            f'<span class="cause">{e(g.example_cause)}</span>',
        ]
        for g in data.failures
    ]
    return table(["Error", "Status", "Entries", "Example entry", "Its cause"], rows, "failures")


def slowest_table(data: RunData) -> str:
    day = data.started_at.astimezone(UTC).date() if data.started_at else None
    rows = [
        [
            number(s.index),
            f'<span class="name">{e(s.name)}</span>',
            e(f"{s.seconds:.3f}"),
            e(s.status),
            e(s.attempts if s.attempts is not None else "—"),
            f"<code>{e(s.job_id)}</code>",
            clock(s.started_at, day),
            clock(s.ended_at, day),
        ]
        for s in data.slowest
    ]
    headings = ["Index", "Entry", "Seconds", "Status", "Attempts", "Job", "Started (UTC)", "Ended (UTC)"]
    return table(headings, rows, "slowest")


def clock(text: str, day: date | None) -> str:
    """An entry's time as its time of day (with its date when not the run's first), the whole
    ISO 8601 time in its tooltip."""
    moment = parse_time(text)
    if moment is None:
        return e(text or "—")
    shown = moment.strftime("%H:%M:%S.%f")[:-3]
    if moment.date() != day:
        shown = f"{moment:%Y-%m-%d} {shown}"
    return f'<span title="{e(text)}">{e(shown)}</span>'


def cost_table(cost: dict[str, Any]) -> str:
    currency = str(cost.get("currency") or "USD")
    parts = cost.get("parts") or {}
    rows = [[e(name), money(value, currency)] for name, value in parts.items()]
    rows.append(["<strong>total</strong>", f"<strong>{money(cost.get('total'), currency)}</strong>"])
    html = table(["Part", "Cost"], rows, "cost")
    for title, values in (("Usage", cost.get("usage")), ("Prices", cost.get("prices"))):
        if isinstance(values, dict) and values:
            pairs = [[e(k), f"<code>{e(v)}</code>"] for k, v in values.items()]
            html += f"<details><summary>{e(title)}</summary>{table(['', title.lower()], pairs, 'pairs')}</details>"
    return html


def money(value: Any, currency: str) -> str:
    return e(f"{value:.4f} {currency}") if isinstance(value, int | float) else NOT_RECORDED
