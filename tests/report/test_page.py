"""The page from fixture runs: what it says, and that no user text can become markup or script."""

import json
import re
from datetime import datetime, timedelta, timezone

from plotly.offline import get_plotlyjs

from run_report import page
from run_report.charts import cost, failures, plotly_time, throughput, timeline
from tests.report.fixtures import HOSTILE_CAUSE, HOSTILE_ERROR, HOSTILE_NAME, hostile_lines, lines_of, run_data


def figures_of(html: str) -> dict[str, dict]:
    return {
        name: json.loads(body)
        for name, body in re.findall(r'<script type="application/json" id="figure-(\w+)">(.*?)</script>', html, re.S)
    }


def test_hostile_names_and_causes_are_text_everywhere():
    html = page.render(run_data(hostile_lines(), status="FAILED"))

    for hostile in (HOSTILE_NAME, HOSTILE_CAUSE, HOSTILE_ERROR):
        assert hostile not in html
    assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;cause&quot;)" in html
    # Only the page's own scripts: plotly.js, the error and drawing scripts, and the figures' JSON.
    assert html.count("<script") == 3 + len(figures_of(html))
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")


def test_figures_hold_user_text_escaped_for_plotly_and_parse_back():
    figures = figures_of(page.render(run_data(hostile_lines(), status="FAILED")))

    assert set(figures) == {"timeline", "throughput", "failures", "cost"}
    labels = figures["failures"]["data"][0]["y"]
    assert "Job.&lt;i&gt;Failed&lt;/i&gt;" in labels  # plotly shows &lt; as <, and draws <i> as italics
    assert all("<script" not in text for text in figures["failures"]["data"][0]["hovertext"])


def test_an_ended_run_shows_counts_durations_and_cost():
    data = run_data(lines_of(50, failed={4}), status="FAILED")
    data.map_run_counts = {"succeeded": 4, "failed": 1, "total": 5, "resultsWritten": 5}
    html = page.render(data)

    assert "<dt>Succeeded</dt><dd>49</dd>" in html and "<dt>Failed</dt><dd>1</dd>" in html
    assert "median 3.0 s, p95 9.5 s, max 10 s" in html
    assert "<dt>Batches</dt><dd>5 (4 succeeded, 1 failed)</dd>" in html
    assert "0.0123 USD" in html and "fargate" in html
    assert 'id="in-progress"' not in html
    assert "https://s3.console.aws.amazon.com/s3/buckets/bucket?region=us-east-1&amp;prefix=runs/run-1/results/" in html


def test_a_run_without_cost_or_durations_says_not_recorded():
    data = run_data(lines_of(20, timed=False), summary={"total": 20, "succeeded": 20, "failed": 0, "notRun": 0})
    html = page.render(data, console_links=False)

    assert cost(data) is None and throughput(data) is None
    assert "Cost not recorded." in html
    assert '<dt>Entry durations</dt><dd><span class="muted">not recorded</span>' in html
    assert "Entry durations not recorded" in html  # the slowest entries' section
    assert "Entry end times not recorded" in html
    assert "console.aws.amazon.com" not in html


def test_a_run_with_no_failure_has_no_failure_chart():
    data = run_data(lines_of(20))
    html = page.render(data)

    assert failures(data) is None
    assert "No entry failed." in html
    assert set(figures_of(html)) == {"timeline", "throughput", "cost"}


def test_not_run_entries_are_counted_and_grouped_apart():
    data = run_data(lines_of(40, failed={2}, not_run=set(range(30, 40))), status="FAILED")
    html = page.render(data)

    assert "<dt>Not run</dt><dd>10</dd>" in html
    assert [(g.status, g.count) for g in data.failures] == [("NOT_RUN", 10), ("FAILED", 1)]
    assert figures_of(html)["failures"]["data"][0]["y"][0] == "Job.SimulatedFailure (not run)"


def test_a_run_in_progress_is_marked_so():
    data = run_data(lines_of(10), status="RUNNING", summary={})
    html = page.render(data)

    assert 'id="in-progress"' in html and "(in progress)" in html
    assert "<dt>Ended</dt><dd>not yet</dd>" in html
    assert "Cost not recorded: the run has not ended." in html


def test_a_run_not_started_has_no_chart_at_all():
    data = run_data([], status="RUNNING", summary={}, batch_list=[])
    html = page.render(data)

    assert timeline(data) is None and figures_of(html) == {}
    assert "No batch has started so far." in html and "No result has been written so far." in html


def test_the_page_is_self_contained():
    html = page.render(run_data(lines_of(10)), console_links=False)
    outside_plotly = html.replace(get_plotlyjs(), "")

    assert get_plotlyjs() in html
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", outside_plotly)
    assert "window.onerror" in html


def test_times_are_shown_in_utc_whatever_zone_they_came_in():
    data = run_data(lines_of(10))
    data.started_at = datetime(2026, 12, 7, 23, 30, tzinfo=timezone(timedelta(hours=2)))  # botocore: local time

    assert "<dt>Started</dt><dd>2026-12-07 21:30:00 UTC</dd>" in page.render(data)
    assert plotly_time(data.started_at) == "2026-12-07 21:30:00.000"
