"""The report as one self-contained HTML file: plotly.js inline (no CDN: it opens offline), each
figure as JSON in its own script element, drawn on load; any script error is written into the page."""

from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from run_report import charts
from run_report.model import RunData
from run_report.sections import cost_table, e, failures_table, header, slowest_table, when

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430; margin: 0;
  background: #f4f6f9; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 24px 48px; }
header, section { background: #fff; border: 1px solid #dde2ea; border-radius: 8px; padding: 16px 20px;
  margin-bottom: 18px; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 18px; margin: 0 0 10px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.badge { font-size: 13px; padding: 3px 10px; border-radius: 12px; vertical-align: middle; color: #fff; }
.ok { background: #2e9e5b; } .bad { background: #d1453b; } .running { background: #3b7dd8; }
.warn { background: #e08a1e; }
.banner { color: #fff; padding: 8px 12px; border-radius: 6px; overflow-wrap: anywhere; }
.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 4px 16px; margin: 0; }
.facts dt { color: #5a6472; } .facts dd { margin: 0; }
.notes { color: #8a5a00; } .muted, .hint { color: #6b7380; }
table { border-collapse: collapse; width: 100%; margin-top: 10px; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e6e9ef; vertical-align: top; }
th { background: #f0f2f6; } td { overflow-wrap: break-word; }
.name, .cause { overflow-wrap: anywhere; } .cause { font-size: 13px; color: #3f4753; }
table.slowest td:nth-child(n+3):not(:nth-child(6)) { white-space: nowrap; }
#report-errors { background: #fde8e6; border: 2px solid #d1453b; color: #8c1d14; padding: 10px 14px;
  border-radius: 6px; margin-bottom: 18px; font-weight: 600; }
@media (max-width: 760px) { .facts { grid-template-columns: max-content 1fr; } }
"""

# Defined first, so that it also reports an error of plotly.js itself.
ERROR_SCRIPT = """
(function () {
  var pending = [];
  function show(text) {
    var box = document.getElementById("report-errors");
    if (!box) { pending.push(text); return; }
    var line = document.createElement("div");
    line.className = "script-error";
    line.textContent = "A chart could not be drawn: " + text;
    box.appendChild(line);
    box.hidden = false;
  }
  window.reportError = show;
  window.onerror = function (message, source, line) { show(message + (line ? " (line " + line + ")" : "")); };
  window.addEventListener("unhandledrejection", function (event) {
    show(String((event.reason && event.reason.message) || event.reason));
  });
  document.addEventListener("DOMContentLoaded", function () { pending.splice(0).forEach(show); });
})();
"""

DRAW_SCRIPT = """
(function () {
  var charts = document.querySelectorAll("div.chart[data-figure]");
  var drawn = 0;
  document.body.setAttribute("data-charts", charts.length);
  charts.forEach(function (div) {
    try {
      var figure = JSON.parse(document.getElementById(div.getAttribute("data-figure")).textContent);
      Plotly.newPlot(div, figure.data, figure.layout, {responsive: true, displaylogo: false}).then(function () {
        drawn += 1;
        div.setAttribute("data-drawn", "yes");
        document.body.setAttribute("data-charts-drawn", drawn);
      }, function (error) { window.reportError(div.id + ": " + error); });
    } catch (error) {
      window.reportError(div.id + ": " + error.message);
    }
  });
})();
"""

SECTIONS: list[tuple[str, str, Callable[[RunData], go.Figure | None]]] = [
    ("timeline", "Timeline of batches and their jobs", charts.timeline),
    ("throughput", "Throughput: entries finished over time", charts.throughput),
    ("failures", "Failures by cause", charts.failures),
    ("cost", "Cost", charts.cost),
]


def figure_json(figure: go.Figure) -> str:
    """The figure as JSON that cannot end its script element: every '<' (only ever inside a string)
    becomes its escape, which JSON.parse reads back."""
    return pio.to_json(figure, validate=False).replace("<", "\\u003c")


def chart(name: str, figure: go.Figure) -> str:
    return (
        f'<div class="chart" id="chart-{name}" data-figure="figure-{name}"></div>'
        f'<script type="application/json" id="figure-{name}">{figure_json(figure)}</script>'
    )


def section(name: str, title: str, data: RunData, draw: Callable[[RunData], go.Figure | None]) -> str:
    figure = draw(data)
    body = chart(name, figure) if figure is not None else f'<p class="muted">{e(empty_text(name, data))}</p>'
    if name == "failures" and data.failures:
        body += failures_table(data)
    if name == "cost" and data.cost:
        body += cost_table(data.cost)
    return f'<section id="{name}"><h2>{e(title)}</h2>{body}</section>'


def empty_text(name: str, data: RunData) -> str:
    so_far = " so far" if data.in_progress else ""
    return {
        "timeline": f"No batch has started{so_far}.",
        "throughput": "Entry end times not recorded (results written before entries had endedAt)."
        if data.entries_read
        else f"No result has been written{so_far}.",
        "failures": f"No entry failed{so_far}.",
        "cost": "Cost not recorded" + (": the run has not ended." if data.in_progress else "."),
    }[name]


def slowest_section(data: RunData) -> str:
    if data.slowest:
        body = slowest_table(data)
    elif data.entries_read:
        body = '<p class="muted">Entry durations not recorded (results written before entries had seconds).</p>'
    else:
        body = '<p class="muted">No result has been written yet.</p>'
    return f'<section id="slowest"><h2>Slowest entries</h2>{body}</section>'


def render(data: RunData, console_links: bool = True) -> str:
    """The whole page; CONSOLE_LINKS links the S3 objects and the execution to the AWS console."""
    sections = [section(name, title, data, draw) for name, title, draw in SECTIONS]
    sections.insert(3, slowest_section(data))
    status = " (in progress)" if data.in_progress else ""
    return "".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Run {e(data.run_id)}: {e(data.status)}{status}</title>",
            f"<style>{STYLE}</style><script>{ERROR_SCRIPT}</script>",
            f"<script>{get_plotlyjs()}</script></head><body><main>",
            '<div id="report-errors" role="alert" hidden></div>',
            "<noscript><p>The charts need JavaScript; the tables below do not.</p></noscript>",
            header(data, console_links),
            *sections,
            f'<p class="hint">Written {e(when(data.generated_at))} by python -m run_report.</p>',
            f"</main><script>{DRAW_SCRIPT}</script></body></html>\n",
        ]
    )


def write(data: RunData, path: Path, console_links: bool = True) -> Path:
    path.write_text(render(data, console_links), encoding="utf-8")
    return path
