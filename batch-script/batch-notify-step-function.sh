#!/bin/sh
# Sample AWS Batch job: one batch of entries. It reads its task's token and its entries by the
# reference it was given, works through the entries a few at a time (sending heartbeats to the
# waiting Step Functions task meanwhile), writes each entry's result to the run's results in S3,
# and reports the counts with SendTaskSuccess. One entry's failure fails that entry only; a
# failure of the job itself (signal included) is reported with SendTaskFailure, and the job exits
# non-zero.
#
# usage: batch-notify-step-function.sh TASK_REF RESULTS_KEY SLEEP_SECONDS HEARTBEAT_INTERVAL_SECONDS
#   TASK_REF       reference of the waiting task's token and the batch's entries in the table
#                  $TASK_TOKEN_TABLE (the job never receives the token itself: Batch shows
#                  parameters to anyone who can describe the job), or "none" for a child of the
#                  array job, which only works SLEEP_SECONDS (Step Functions waits for the job itself)
#   RESULTS_KEY    key in the bucket $RUNS_BUCKET of the batch's results (JSON Lines, one per entry)
#   SLEEP_SECONDS  seconds of (pretend) work per entry; an entry with "expectedJobStatus": "FAILED"
#                  fails (Job.SimulatedFailure)
#   HEARTBEAT_INTERVAL_SECONDS  seconds between heartbeats; 0 sends one at the start only
# ENTRY_PARALLELISM (default 10): entries worked on at once.
#
# POSIX sh (dash, busybox). JSON is read and built by jq, or python3 when the image has no jq
# (BATCH_JSON_TOOL=jq|python3 chooses); no value is ever pasted into JSON text by the shell.
# The task token is a credential: it is never printed and never put on a command line.
set -eu

task_ref=${1:-none}
task_token=none
results_key=${2:-none}
sleep_seconds=${3:-0}
heartbeat_interval=${4:-0}
parallelism=${ENTRY_PARALLELISM:-10}
job_id=${AWS_BATCH_JOB_ID:-local}
attempt=${AWS_BATCH_JOB_ATTEMPT:-1}
reported=no
heartbeats=
workdir=$(mktemp -d)
export AWS_PAGER=""
tab=$(printf '\t')

log() {
    printf '%s [job %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$job_id" "$*"
}

json_tool=${BATCH_JSON_TOOL:-}
if [ -z "$json_tool" ]; then
    if command -v jq >/dev/null 2>&1; then json_tool=jq; else json_tool=python3; fi
fi

# make_json KIND [FILE]: prints what KIND says, from exported environment variables and FILE.
#   lookup:   the GetItem request of the task's item, from TASK_TOKEN_TABLE and TASK_REF
#   token:    the token in the GetItem response FILE (nothing when there is none)
#   plan:     the entries kept in the GetItem response FILE, one per line: index TAB expected
#             status TAB the entry as JSON
#   results:  the batch's results as JSON Lines, from the entries (FILE, the GetItem response),
#             FAILURES (a file of index TAB error TAB cause lines), JOB_ID and ATTEMPT
#   success:  {taskToken, output} from TASK_TOKEN and the counts JOB_ID, ATTEMPT, SUCCEEDED, FAILED
#   failure:  {taskToken, error, cause} from TASK_TOKEN, ERROR and CAUSE
#   token_only: {taskToken} from TASK_TOKEN
make_json() {
    case "$json_tool" in
    jq)
        case "$1" in
        lookup) jq -n -c '{TableName: env.TASK_TOKEN_TABLE, Key: {ref: {S: env.TASK_REF}}, ConsistentRead: true}' ;;
        token) jq -r '.Item.taskToken.S // empty' "$2" ;;
        plan) jq -r '.Item.entries.S | fromjson | .[] |
                     [(.index | tostring), (.entry.expectedJobStatus // "SUCCEEDED"), (.entry | tojson)] | join("\t")' "$2" ;;
        results) jq -c --rawfile failures "$FAILURES" '
            ($failures | split("\n") | map(select(length > 0) | split("\t") | {key: .[0], value: .}) | from_entries) as $failed
            | .Item.entries.S | fromjson | .[] | $failed[.index | tostring] as $f
            | {index, name, status: (if $f then "FAILED" else "SUCCEEDED" end)}
              + (if $f then {error: $f[1], cause: $f[2]} else {} end)
              + {jobId: env.JOB_ID, attempt: (env.ATTEMPT | tonumber)}' "$2" ;;
        success) jq -n -c '{taskToken: env.TASK_TOKEN, output: ({jobId: env.JOB_ID, attempt: (env.ATTEMPT | tonumber),
                             succeeded: (env.SUCCEEDED | tonumber), failed: (env.FAILED | tonumber)} | tojson)}' ;;
        failure) jq -n -c '{taskToken: env.TASK_TOKEN, error: env.ERROR, cause: env.CAUSE}' ;;
        token_only) jq -n -c '{taskToken: env.TASK_TOKEN}' ;;
        esac
        ;;
    python3)
        python3 -c '
import json, os, sys
e = os.environ.get
kind = sys.argv[1]
def entries():
    with open(sys.argv[2]) as f:
        return json.loads(json.load(f)["Item"]["entries"]["S"])
if kind == "lookup":
    doc = {"TableName": e("TASK_TOKEN_TABLE"), "Key": {"ref": {"S": e("TASK_REF")}}, "ConsistentRead": True}
elif kind == "token":
    with open(sys.argv[2]) as f:
        print(json.load(f).get("Item", {}).get("taskToken", {}).get("S", ""))
    sys.exit(0)
elif kind == "plan":
    for item in entries():
        entry = item["entry"]
        print(item["index"], entry.get("expectedJobStatus", "SUCCEEDED"), json.dumps(entry, separators=(",", ":")), sep="\t")
    sys.exit(0)
elif kind == "results":
    with open(e("FAILURES")) as f:
        failed = {line.split("\t")[0]: line.rstrip("\n").split("\t") for line in f if line.strip()}
    for item in entries():
        f = failed.get(str(item["index"]))
        result = {"index": item["index"], "name": item["name"], "status": "FAILED" if f else "SUCCEEDED"}
        if f:
            result |= {"error": f[1], "cause": f[2]}
        result |= {"jobId": e("JOB_ID"), "attempt": int(e("ATTEMPT"))}
        print(json.dumps(result, separators=(",", ":"), ensure_ascii=False).replace("\x7f", "\\u007f"))  # as jq
    sys.exit(0)
elif kind == "success":
    output = {"jobId": e("JOB_ID"), "attempt": int(e("ATTEMPT")), "succeeded": int(e("SUCCEEDED")), "failed": int(e("FAILED"))}
    doc = {"taskToken": e("TASK_TOKEN"), "output": json.dumps(output, separators=(",", ":"))}
elif kind == "failure":
    doc = {"taskToken": e("TASK_TOKEN"), "error": e("ERROR"), "cause": e("CAUSE")}
else:
    doc = {"taskToken": e("TASK_TOKEN")}
print(json.dumps(doc, separators=(",", ":")))
' "$@"
        ;;
    *)
        echo "unknown BATCH_JSON_TOOL '$json_tool' (jq or python3)" >&2
        return 2
        ;;
    esac
}

# call_sfn ACTION KIND: sends a request built by make_json KIND with the AWS CLI. It runs in
# a subshell, so what it exports stays there. The request travels in a private file, so the
# token is on no command line.
call_sfn() (
    request="$workdir/request.$$.json"
    export TASK_TOKEN="$task_token"
    umask 077
    make_json "$2" >"$request"
    aws stepfunctions "$1" --cli-input-json "file://$request" >/dev/null
    rm -f "$request"
)

report_failure() {
    [ "$task_token" != none ] || return 0
    (export ERROR="$1" CAUSE="$2" && call_sfn send-task-failure failure)
    reported=yes
    log "reported failure $1"
}

# read_task: the task's item (token and entries) into $workdir/task.json, readable by this job
# only; the lookup travels in a private file too.
read_task() (
    umask 077
    export TASK_REF="$task_ref"
    make_json lookup >"$workdir/lookup.json"
    aws dynamodb get-item --cli-input-json "file://$workdir/lookup.json" --output json >"$workdir/task.json"
)

heartbeat() {
    [ "$task_token" != none ] || return 0
    call_sfn send-task-heartbeat token_only
}

# The loop is stopped by a file, not a signal: a TERM sent before the loop's subshell has set its
# trap is lost (dash and busybox, about 4 times in 5 right after the fork), and the job then
# waited for it for ever while its heartbeats kept the task alive.
stop_heartbeats() {
    if [ -n "$heartbeats" ]; then
        : >"$workdir/heartbeats.stop"
        wait "$heartbeats" 2>/dev/null || true
        heartbeats=
    fi
}

on_exit() {
    status=$?
    trap - EXIT
    stop_heartbeats
    if [ "$status" -ne 0 ] && [ "$reported" = no ]; then
        case "$status" in
        2) error=Job.InvalidInput ;;
        143 | 137 | 130) error=Job.Terminated ;;
        *) error=Job.Failed ;;
        esac
        report_failure "$error" "batch job $job_id (attempt $attempt) exited with status $status" ||
            log "could not report the failure"
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

pause() {
    sleep "$1" &
    wait $! # interruptible, so that a TERM from Batch is handled at once
}

# The token first, so that bad arguments are reported to the task (Job.InvalidInput).
if [ "$task_ref" != none ]; then
    if ! read_task || ! task_token=$(make_json token "$workdir/task.json") || [ -z "$task_token" ]; then
        task_token=none
        log "the task of reference ...$(printf '%s' "$task_ref" | tail -c 8) cannot be read: nothing to report to"
        exit 3
    fi
    log "started; reporting to task token ...$(printf '%s' "$task_token" | tail -c 8)"
fi
case "$sleep_seconds" in '' | *[!0-9]*) log "SLEEP_SECONDS must be a whole number" && exit 2 ;; esac
case "$heartbeat_interval" in '' | *[!0-9]*) log "HEARTBEAT_INTERVAL_SECONDS must be a whole number" && exit 2 ;; esac
case "$parallelism" in '' | 0 | *[!0-9]*) log "ENTRY_PARALLELISM must be a positive whole number" && exit 2 ;; esac

if [ "$task_ref" = none ]; then
    log "started (array child ${AWS_BATCH_JOB_ARRAY_INDEX:-}); no task token: Step Functions waits for this job itself"
    pause "$sleep_seconds"
    log "done"
    exit 0
fi
case "$results_key" in none | '') log "RESULTS_KEY is missing" && exit 2 ;; esac
if ! make_json plan "$workdir/task.json" >"$workdir/plan.tsv"; then
    log "the task's entries cannot be read"
    exit 2
fi

heartbeat
if [ "$heartbeat_interval" -gt 0 ]; then
    (
        trap - EXIT
        napped=0
        while [ ! -e "$workdir/heartbeats.stop" ]; do
            pause 1
            napped=$((napped + 1))
            if [ "$napped" -ge "$heartbeat_interval" ] && [ ! -e "$workdir/heartbeats.stop" ]; then
                napped=0
                heartbeat || log "heartbeat not sent"
            fi
        done
    ) &
    heartbeats=$!
fi

mkdir "$workdir/failed"
fail_entry() { # INDEX ERROR CAUSE
    printf '%s\t%s\t%s\n' "$1" "$2" "$(printf '%s' "$3" | tr '\t\n' '  ')" >"$workdir/failed/$1"
}

# do_entry INDEX EXPECTED ENTRY_JSON: the work of one entry (here: sleep, and fail when the entry
# asks to). A non-zero status fails the entry; fail_entry gives it an error and a cause.
do_entry() {
    [ "$sleep_seconds" -eq 0 ] || pause "$sleep_seconds"
    if [ "$2" = FAILED ]; then
        fail_entry "$1" Job.SimulatedFailure "the entry asked this sample job to fail (expectedJobStatus FAILED)"
        return 1
    fi
}

run_entry() {
    trap - EXIT
    status=0
    do_entry "$@" || status=$?
    if [ "$status" -ne 0 ] && [ ! -e "$workdir/failed/$1" ]; then
        fail_entry "$1" Entry.Failed "the entry's work exited with status $status"
    fi
}

total=0
running=
while IFS=$tab read -r index expected entry; do
    run_entry "$index" "$expected" "$entry" &
    running="$running $!"
    total=$((total + 1))
    if [ $((total % parallelism)) -eq 0 ]; then
        # shellcheck disable=SC2086 # the list of process ids is split on purpose
        wait $running
        running=
    fi
done <"$workdir/plan.tsv"
# shellcheck disable=SC2086
[ -z "$running" ] || wait $running
stop_heartbeats

failed=$(find "$workdir/failed" -type f | wc -l | tr -d ' ')
find "$workdir/failed" -type f -exec cat {} + >"$workdir/failures.tsv"
export JOB_ID="$job_id" ATTEMPT="$attempt" FAILURES="$workdir/failures.tsv"
make_json results "$workdir/task.json" >"$workdir/results.jsonl"
# A task that closed meanwhile (its timeout) has had its batch accounted as failed: results
# written now would contradict that account. The heartbeat is refused then, and the job stops.
heartbeat
aws s3api put-object --bucket "$RUNS_BUCKET" --key "$results_key" --body "$workdir/results.jsonl" \
    --content-type application/x-ndjson >/dev/null
(export SUCCEEDED=$((total - failed)) FAILED="$failed" && call_sfn send-task-success success)
reported=yes
log "reported $total entries: $((total - failed)) succeeded, $failed failed"
