"""The report as a person sees it, in headless Chromium: every chart drawn, with its traces, no
script error, user text shown as text; and a page whose script breaks says so on the page."""

import pytest
from plotly.offline import get_plotlyjs

from run_report import page
from tests.report.browser import CHROMIUM, Charts, drawn_dom, screenshot
from tests.report.fixtures import HOSTILE_NAME, showcase_run

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (make test installs it)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    return page.write(showcase_run(), tmp_path_factory.mktemp("report") / "report.html")


def test_every_chart_is_drawn_with_its_traces_and_no_error(report):
    charts = Charts(drawn_dom(report))

    assert charts.errors == []
    assert charts.body.get("data-charts") == charts.body.get("data-charts-drawn") == "4"
    assert set(charts.svgs) == {"chart-timeline", "chart-throughput", "chart-failures", "chart-cost"}
    assert all(count >= 2 for count in charts.svgs.values()), charts.svgs  # plotly draws 2-3 stacked SVGs
    assert charts.traces["chart-timeline"] == 4  # batch succeeded, batch failed, job queued, job running
    assert charts.traces["chart-throughput"] == 2  # SUCCEEDED, FAILED
    assert charts.traces["chart-failures"] == charts.traces["chart-cost"] == 1


def test_hostile_text_is_shown_as_text_and_runs_nothing(report):
    charts = Charts(drawn_dom(report))

    assert HOSTILE_NAME in charts.cells  # the slowest entry's name, as its table cell's text
    assert charts.images == 0
    assert charts.errors == []


def test_a_broken_chart_script_is_reported_on_the_page(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text(page.render(showcase_run()).replace(get_plotlyjs(), 'throw new Error("plotly broke");'))

    charts = Charts(drawn_dom(broken))

    assert any("plotly broke" in text for text in charts.errors), charts.errors
    assert any("Plotly is not defined" in text for text in charts.errors), charts.errors
    assert "data-charts-drawn" not in charts.body


def test_a_screenshot_of_the_report_is_taken(report, tmp_path):
    png = screenshot(report, tmp_path / "report.png")

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
