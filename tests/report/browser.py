"""Debian's headless Chromium, as the report's tests use it: the DOM a page leaves once drawn, and
a screenshot. `make test` installs it (the Makefile's browser target)."""

import subprocess
import tempfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Virtual time: Chromium runs the page's timers and animation frames until they are idle or this
# budget of page time is spent, however long that takes in real time; no wall-clock wait.
BUDGET = "--virtual-time-budget=30000"


def chromium(page: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", BUDGET, *arguments, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )


def drawn_dom(page: Path) -> str:
    return chromium(page, "--dump-dom").stdout


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 3600) -> Path:
    chromium(page, f"--screenshot={png}", f"--window-size={width},{height}")
    return png


class Charts(HTMLParser):
    """Per chart (div.chart, by id): its plotly SVGs (.main-svg) and traces (g.trace), and whether
    the page reported an error (.script-error); the text of the page's tables."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.svgs: Counter[str] = Counter()
        self.traces: Counter[str] = Counter()
        self.body: dict[str, str] = {}
        self.errors: list[str] = []
        self.cells: list[str] = []
        self.images = 0
        self._stack: list[tuple[str, str | None]] = []  # (tag, chart id) of the open elements
        self._in_error = self._in_cell = False
        self.feed(dom)

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        chart = self._stack[-1][1] if self._stack else None
        if tag == "div" and "chart" in classes:
            chart = attributes.get("id")
        if tag == "body":
            self.body = {k: v or "" for k, v in attributes.items()}
        if chart and "main-svg" in classes:
            self.svgs[chart] += 1
        if chart and tag == "g" and "trace" in classes:
            self.traces[chart] += 1
        self.images += tag == "img"
        self._in_error = self._in_error or "script-error" in classes
        self._in_cell = self._in_cell or tag == "td"
        if tag not in self.VOID:
            self._stack.append((tag, chart))

    def handle_endtag(self, tag: str) -> None:
        if any(open_tag == tag for open_tag, _ in self._stack):
            while self._stack.pop()[0] != tag:
                pass
        self._in_error = self._in_error and tag != "div"
        self._in_cell = self._in_cell and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.errors.append(data)
        if self._in_cell:
            self.cells.append(data)
