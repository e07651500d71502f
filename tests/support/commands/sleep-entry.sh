#!/bin/sh
# The tests' entry command: it sleeps SECONDS ($1, default 0), then fails when its entry asks it to
# ("expectedJobStatus": "FAILED"), and leaves its entry's name as its output document's only field.
sleep "${1:-0}"
if grep -q '"expectedJobStatus":"FAILED"' "$ENTRY_FILE"; then
    echo "the entry asked this test command to fail (expectedJobStatus FAILED)" >&2
    exit 1
fi
