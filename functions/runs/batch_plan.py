"""The plan of one batch: what its job runs, in lines its shell reads without a JSON tool.

    command<TAB>s3-digest              the entry command, and the other settings, one a line
    timeout<TAB>600
    ...
                                       an empty line
    0<TAB>first entry<TAB>{"name":"first entry","key":"a.csv"}   one line an entry: index, name, JSON

A name has no control character (the prepare function checked), and compact JSON has no raw tab or
line break, so neither can split a line.
"""

import json
from typing import Any

SETTINGS = ("command", "timeout", "attempts", "backoff", "parallelism", "outputs", "run", "maxfiles")


def plan_text(settings: dict[str, Any], items: list[dict[str, Any]]) -> str:
    """SETTINGS (each of SETTINGS) and the batch's ITEMS ({index, name, entry}) as the job reads them."""
    lines = [f"{name}\t{settings[name]}" for name in SETTINGS] + [""]
    for item in items:
        document = json.dumps(item["entry"], ensure_ascii=False, separators=(",", ":"))
        lines.append(f"{item['index']}\t{item['name']}\t{document}")
    return "\n".join(lines) + "\n"
