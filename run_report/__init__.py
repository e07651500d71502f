"""The run report: one self-contained HTML file per run (timeline, throughput, failures, slowest
entries, cost), read through boto3 from AWS or the local emulator.

    python -m run_report --execution-arn ARN --out report.html     # see __main__.py

collect.py reads a run into RunData (model.py), results.py aggregates its results as they stream
by, charts.py and sections.py make its figures and tables, page.py the page.
"""

from pathlib import Path
from typing import Any


def write_report(
    path: Path, execution_arn: str, clients: Any, outputs: dict[str, str], console_links: bool = True
) -> Any:
    """Read the run of EXECUTION_ARN with CLIENTS (anything with .sfn, .s3, .dynamodb and .batch
    clients, as collect.Clients or local_emulator's OrchestratorRun) from the stack of OUTPUTS, and
    write its report to PATH. Its RunData."""
    # Imported here: plotly takes 0.2 s to import, which the emulator's start need not wait for.
    from run_report.collect import Locations, collect
    from run_report.page import write

    data = collect(clients, execution_arn, Locations.from_outputs(outputs))
    write(data, path, console_links)
    return data
