#!/usr/bin/env python3
"""A sample entry command: each entry names an S3 object; the command reads it and leaves its digest.

    {"name": "report-2026-12", "bucket": "my-bucket", "key": "inputs/report.csv"}

(without "bucket": the stack's runs bucket, whose inputs/ the job's role may read).

Its output document (the entry's `output` in its result): the object's bytes, lines, words and SHA-256.
Its output file (under the run's outputs/<index>/): `<file name>.sha256`, as `sha256sum -c` reads it.
It reads the object with the AWS CLI (the image has it for the job script anyway), so it needs
nothing but Python's standard library.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

CHUNK = 1 << 20


def digest(stream) -> dict:
    sha, size, lines, words, in_word = hashlib.sha256(), 0, 0, 0, False
    while chunk := stream.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
        lines += chunk.count(b"\n")
        for byte in chunk:  # words as wc counts them: runs of non-space bytes
            space = byte in b" \t\n\r\v\f"
            words += in_word and space
            in_word = not space
    return {"bytes": size, "lines": lines, "words": words + in_word, "sha256": sha.hexdigest()}


def main() -> int:
    entry = json.load(sys.stdin)
    bucket, key = entry.get("bucket", os.environ.get("RUNS_BUCKET")), entry.get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        print('the entry must name an S3 object: {"bucket": ..., "key": ...}', file=sys.stderr)
        return 2
    reader = subprocess.Popen(["aws", "s3", "cp", f"s3://{bucket}/{key}", "-"], stdout=subprocess.PIPE)
    result = digest(reader.stdout)
    if reader.wait() != 0:
        print(f"s3://{bucket}/{key} cannot be read", file=sys.stderr)
        return 1
    Path(os.environ["ENTRY_OUTPUT"]).write_text(json.dumps(result))
    name = key.rsplit("/", 1)[-1] or "object"
    Path(os.environ["ENTRY_OUTPUT_DIR"], f"{name}.sha256").write_text(f"{result['sha256']}  {name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
