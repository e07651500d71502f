"""The report's plotly figures, from RunData. Plotly reads a subset of HTML in every text it draws
(labels, hover texts): user text (entry names, errors, causes) goes through html.escape first."""

from datetime import UTC, datetime, timedelta
from html import escape

import plotly.graph_objects as go

from run_report.model import Batch, RunData

COLORS = {
    "SUCCEEDED": "#2e9e5b",
    "FAILED": "#d1453b",
    "NOT_RUN": "#9aa0a6",
    "RUNNING": "#3b7dd8",
    "ABORTED": "#e08a1e",
    "TIMED_OUT": "#b5651d",
}
QUEUED_COLOR = "#c9ced6"
JOB_COLOR = "#1f3b5a"
FAILURES_SHOWN = 20
CROWDED_ROWS = 300  # batches past which the timeline's rows overlap
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


def plotly_time(moment: datetime) -> str:
    """A time in UTC, as plotly's date axes read it (they have no time zones; botocore gives
    Step Functions' times in the machine's)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def layout(height: int, **more: object) -> dict[str, object]:
    return {
        "template": "plotly_white",
        "height": height,
        "font": FONT,
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        **more,
    }


def timeline(data: RunData) -> go.Figure | None:
    """A Gantt-like view: each batch's child execution, and its job queued then running."""
    rows = sorted(data.batches, key=row_order)
    if not any(b.child_started or b.job_created for b in rows):
        return None
    end = data.stopped_at or data.generated_at
    segments: dict[str, tuple[list, list, list]] = {}

    def add(trace: str, row: int, start: datetime | None, stop: datetime | None, text: str) -> None:
        if start is None:
            return
        xs, ys, texts = segments.setdefault(trace, ([], [], []))
        xs += [plotly_time(start), plotly_time(stop or end or start), None]
        ys += [row, row, None]
        texts += [text, text, None]

    for row, batch in enumerate(rows):
        label = escape(batch.label)
        child = batch.child_status or "not started"
        add(f"batch {child.lower()}", row, batch.child_started, batch.child_stopped, f"{label}<br>batch {child}")
        queued_until = batch.job_started or batch.job_stopped  # a job can fail before it starts
        add("job queued", row, batch.job_created, queued_until, f"{label}<br>job {escape(batch.job_id)} queued")
        job_text = f"{label}<br>job {escape(batch.job_id)} {escape(batch.job_status)}"
        add("job running", row, batch.job_started, batch.job_stopped, job_text)
    thick = max(3, min(16, 500 // max(len(rows), 1)))
    crowded = len(rows) > CROWDED_ROWS
    figure = go.Figure()
    for name, (xs, ys, texts) in sorted(segments.items(), key=lambda item: layer(item[0], crowded)):
        status = name.removeprefix("batch ").upper()
        color = {"job queued": QUEUED_COLOR, "job running": JOB_COLOR}.get(name, COLORS.get(status, "#7a7a7a"))
        width = thick if name.startswith("batch") else max(2, thick // 2)
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=name,
                line={"color": color, "width": width},
                opacity=0.6 if crowded and name.startswith("job") else 1.0,
                hovertext=texts,
                hoverinfo="text+x",
            )
        )
    ticks = {"tickvals": list(range(len(rows))), "ticktext": [escape(b.label) for b in rows]}
    figure.update_layout(
        layout(
            min(900, max(260, 90 + 22 * len(rows))),
            xaxis={"title": {"text": "time (UTC)"}, "type": "date", **time_range(data)},
            yaxis={
                "title": {"text": "batch (in entry order)"},
                "autorange": "reversed",
                "zeroline": False,
                **(ticks if len(rows) <= 40 else {}),
            },
            hovermode="closest",
        )
    )
    return figure


def time_range(data: RunData) -> dict[str, list[str]]:
    """The run's time, from its start to its end (or now), widened to whatever the charts show
    outside it: the timeline and the throughput share it, and a run's few seconds of results
    show as a part of the run, not as one bar filling the chart."""
    flow = data.throughput
    moments = [data.started_at, data.stopped_at or data.generated_at]
    moments += [flow.starts[0], flow.starts[-1] + timedelta(seconds=flow.bucket_seconds)] if flow.starts else []
    for batch in data.batches:
        moments += [batch.child_started, batch.child_stopped, batch.job_created, batch.job_stopped]
    known = [moment for moment in moments if moment is not None]
    if not known:
        return {}
    first, last = min(known), max(known)
    margin = max((last - first) * 0.02, timedelta(milliseconds=500))
    return {"range": [plotly_time(first - margin), plotly_time(last + margin)]}


def layer(trace: str, crowded: bool) -> int:
    """Batches under their jobs; but where rows overlap (many batches), the batches that did not
    succeed on top, or the jobs would hide them."""
    if trace.startswith("job"):
        return 1
    return 2 if crowded and trace not in ("batch succeeded", "batch running") else 0


def throughput(data: RunData) -> go.Figure | None:
    flow = data.throughput
    if not flow.starts:
        return None
    x = [plotly_time(start) for start in flow.starts]
    tallest = max(sum(bar) for bar in zip(*flow.counts.values(), strict=True))  # the stacked bars' highest
    figure = go.Figure()
    for status, counts in flow.counts.items():
        figure.add_trace(
            go.Bar(
                x=x,
                y=counts,
                name=escape(status),
                marker_color=COLORS.get(status, "#7a7a7a"),
                width=flow.bucket_seconds * 900,  # milliseconds on a date axis: 90 % of a bucket
                offset=0,
            )
        )
    figure.update_layout(
        layout(
            320,
            barmode="stack",
            showlegend=True,  # also for one status: its color alone would not say which
            xaxis={
                "title": {"text": f"time (UTC), {bucket_name(flow.bucket_seconds)} per bar"},
                "type": "date",
                **time_range(data),
            },
            yaxis={"title": {"text": "entries finished"}, **count_axis(tallest)},
        )
    )
    return figure


def count_axis(largest: int) -> dict[str, object]:
    """An axis of counts: whole numbers only (plotly would tick 0.5 entries below 5)."""
    return {"rangemode": "tozero", **({"dtick": 1} if largest < 10 else {"tickformat": ",d"})}


def bucket_name(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def failures(data: RunData) -> go.Figure | None:
    groups = data.failures[:FAILURES_SHOWN]
    if not groups:
        return None
    labels = [escape(g.error) + (" (not run)" if g.status == "NOT_RUN" else "") for g in groups]
    hover = [f"{escape(shorten(g.example_cause, 200))}" for g in groups]
    figure = go.Figure(
        go.Bar(
            x=[g.count for g in groups],
            y=labels,
            orientation="h",
            marker_color=[COLORS.get(g.status, COLORS["FAILED"]) for g in groups],
            text=[str(g.count) for g in groups],
            textposition="auto",
            hovertext=hover,
            hoverinfo="text+x",
        )
    )
    figure.update_layout(
        layout(
            max(200, 60 + 34 * len(groups)),
            xaxis={"title": {"text": "entries"}, **count_axis(groups[0].count)},
            yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
            showlegend=False,
        )
    )
    return figure


def cost(data: RunData) -> go.Figure | None:
    recorded = data.cost or {}
    parts = recorded.get("parts") or {}
    parts = {name: value for name, value in parts.items() if isinstance(value, int | float)}
    if not parts:
        return None
    currency = escape(str(recorded.get("currency") or "USD"))
    names = sorted(parts, key=lambda name: parts[name], reverse=True)
    figure = go.Figure(
        go.Bar(
            x=[parts[n] for n in names],
            y=[escape(n) for n in names],
            orientation="h",
            marker_color="#5b6bbf",
            text=[f"{parts[n]:.4f} {currency}" for n in names],
            textposition="auto",
            hoverinfo="text+y",
        )
    )
    figure.update_layout(
        layout(
            max(180, 60 + 34 * len(names)),
            xaxis={"title": {"text": currency}},
            yaxis={"autorange": "reversed", "automargin": True},
            showlegend=False,
        )
    )
    return figure


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def row_order(batch: Batch) -> tuple[bool, int, float]:
    """Batches in entry order; children with no audit item (their entries unknown) last."""
    return batch.first is None, batch.first or 0, batch.child_started.timestamp() if batch.child_started else 0.0
