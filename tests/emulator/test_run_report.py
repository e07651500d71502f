"""The run report of a real run through the emulator: the one in the run's local record, and the
one `python -m run_report` writes for the same run from the stack's name, as an operator on AWS."""

import json
import os
import re
import subprocess
import sys

from local_emulator.run_record import write_record
from local_emulator.runner import OrchestratorRun
from tests.emulator.stacks import Deployed
from tests.report.browser import CHROMIUM, Charts, drawn_dom
from tests.support.paths import ROOT

ENTRIES = [{"name": "a"}, {"name": "<b>b</b>", "expectedJobStatus": "FAILED"}, {"name": "c"}, {"name": "d"}]


def figures(html: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="figure-(\w+)">(.*?)</script>', html, re.S)
    return {name: json.loads(body) for name, body in found}


def test_the_report_of_a_run_shows_its_batches_jobs_and_failures(tolerant: Deployed, tmp_path):
    runner = OrchestratorRun(tolerant.emulator.endpoint_url, tolerant.stack)
    execution = runner.start({"input": {"entries": ENTRIES, "batchSize": 2}})
    result = runner.result(runner.wait(execution, 180, progress=False), 0)
    write_record(runner, result, tmp_path / "record", tolerant.emulator.lambdas.journal)
    by_id = ["--run-id", result.run_id, "--stack-name", tolerant.stack.name]
    for out, run in (("cli.html", ["--execution-arn", execution]), ("by-id.html", by_id)):  # the stack: found, named
        command = subprocess.run(
            [sys.executable, "-m", "run_report", *run, "--out", tmp_path / out],
            cwd=ROOT,
            env={**os.environ, "AWS_ENDPOINT_URL": tolerant.emulator.endpoint_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert command.returncode == 0, command.stderr

    html = (tmp_path / "record" / "report.html").read_text()
    drawn = figures(html)
    assert {"timeline", "failures"} <= set(drawn)
    timeline = {trace["name"]: trace for trace in drawn["timeline"]["data"]}
    assert {"job queued", "job running"} <= set(timeline)
    assert sum(x is not None for x in timeline["job running"]["x"]) == 4, "2 batches: a start and an end each"
    assert drawn["failures"]["data"][0]["x"] == [1]
    assert "&lt;b&gt;b&lt;/b&gt;" in html and "<b>b</b>" not in html
    timed = sum("endedAt" in entry for entry in map(json.loads, result_lines(tolerant, result.run_id)))
    if timed:  # results that record when each entry ended
        assert sum(sum(trace["y"]) for trace in drawn["throughput"]["data"]) == timed
    for out in ("cli.html", "by-id.html"):
        assert figures((tmp_path / out).read_text()).keys() == drawn.keys()
    if CHROMIUM.exists():
        charts = Charts(drawn_dom(tmp_path / "record" / "report.html"))
        assert charts.errors == [] and charts.body["data-charts-drawn"] == str(len(drawn))


def result_lines(stack: Deployed, run_id: str) -> list[str]:
    s3, bucket = stack.client("s3"), stack.stack.outputs["RunsBucketName"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/results/")["Contents"]]
    return [line for key in keys for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]
