#!/bin/sh
# Sample AWS Batch job. It works for SLEEP_SECONDS (sending heartbeats to the waiting Step
# Functions task), then reports its result with SendTaskSuccess, or its failure with
# SendTaskFailure; on any failure, signal included, it reports and exits non-zero.
#
# usage: batch-notify-step-function.sh TASK_REF ENTRY_JSON SLEEP_SECONDS HEARTBEAT_INTERVAL_SECONDS
#   TASK_REF       reference of the waiting task's token in the table $TASK_TOKEN_TABLE (the job never
#                  receives the token itself: Batch shows parameters to anyone who can describe the
#                  job), or "none" when Step Functions waits for the job itself
#   ENTRY_JSON     the entry as a JSON object; "expectedJobStatus": "FAILED" makes this sample fail
#   SLEEP_SECONDS  seconds of (pretend) work
#   HEARTBEAT_INTERVAL_SECONDS  seconds between heartbeats; 0 sends none while working
#
# POSIX sh (dash, busybox). JSON is built by jq, or python3 when the image has no jq
# (BATCH_JSON_TOOL=jq|python3 chooses); no value is ever pasted into JSON text by the shell.
# The task token is a credential: it is never printed and never put on a command line.
set -eu

task_ref=${1:-none}
task_token=none
entry=${2-"{}"}
sleep_seconds=${3:-0}
heartbeat_interval=${4:-0}
job_id=${AWS_BATCH_JOB_ID:-local}
reported=no
workdir=$(mktemp -d)
export AWS_PAGER=""

log() {
    printf '%s [job %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$job_id" "$*"
}

json_tool=${BATCH_JSON_TOOL:-}
if [ -z "$json_tool" ]; then
    if command -v jq >/dev/null 2>&1; then json_tool=jq; else json_tool=python3; fi
fi

# make_json KIND: prints one JSON document built from exported environment variables.
#   result:   the job's output, from ENTRY, JOB_ID, ARRAY_INDEX, ATTEMPT, WORKED
#   success:  {taskToken, output} from TASK_TOKEN and OUTPUT
#   failure:  {taskToken, error, cause} from TASK_TOKEN, ERROR and CAUSE
#   token:    {taskToken} from TASK_TOKEN
#   lookup:   the GetItem request of the token's item, from TASK_TOKEN_TABLE and TASK_REF
#   expected: the entry's expectedJobStatus (default SUCCEEDED), from ENTRY
make_json() {
    case "$json_tool" in
    jq)
        case "$1" in
        result) jq -n -c -a '{status: "SUCCEEDED", jobId: env.JOB_ID, arrayIndex: env.ARRAY_INDEX,
                               attempt: (env.ATTEMPT | tonumber), workedSeconds: (env.WORKED | tonumber),
                               entry: (env.ENTRY | fromjson)}' ;;
        success) jq -n -c -a '{taskToken: env.TASK_TOKEN, output: env.OUTPUT}' ;;
        failure) jq -n -c -a '{taskToken: env.TASK_TOKEN, error: env.ERROR, cause: env.CAUSE}' ;;
        token) jq -n -c -a '{taskToken: env.TASK_TOKEN}' ;;
        lookup) jq -n -c -a '{TableName: env.TASK_TOKEN_TABLE, Key: {ref: {S: env.TASK_REF}}, ConsistentRead: true}' ;;
        expected) jq -n -r 'env.ENTRY | fromjson | if type == "object" then (.expectedJobStatus // "SUCCEEDED") else error("the entry is not a JSON object") end' ;;
        esac
        ;;
    python3)
        python3 -c '
import json, os, sys
e = os.environ.get
kind = sys.argv[1]
if kind == "result":
    doc = {"status": "SUCCEEDED", "jobId": e("JOB_ID"), "arrayIndex": e("ARRAY_INDEX"), "attempt": int(e("ATTEMPT")),
           "workedSeconds": int(e("WORKED")), "entry": json.loads(e("ENTRY"))}
elif kind == "success":
    doc = {"taskToken": e("TASK_TOKEN"), "output": e("OUTPUT")}
elif kind == "failure":
    doc = {"taskToken": e("TASK_TOKEN"), "error": e("ERROR"), "cause": e("CAUSE")}
elif kind == "token":
    doc = {"taskToken": e("TASK_TOKEN")}
elif kind == "lookup":
    doc = {"TableName": e("TASK_TOKEN_TABLE"), "Key": {"ref": {"S": e("TASK_REF")}}, "ConsistentRead": True}
else:
    entry = json.loads(e("ENTRY"))
    if not isinstance(entry, dict):
        sys.exit("the entry is not a JSON object")
    print(entry.get("expectedJobStatus", "SUCCEEDED"))
    sys.exit(0)
print(json.dumps(doc, separators=(",", ":")))
' "$1"
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
    request="$workdir/request.json"
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

# read_task_token: prints the token kept under TASK_REF (nothing when there is none). Like every
# request here, the lookup travels in a private file; the token goes to a variable, not a log.
read_task_token() (
    request="$workdir/lookup.json"
    export TASK_REF="$task_ref"
    umask 077
    make_json lookup >"$request"
    aws dynamodb get-item --cli-input-json "file://$request" --query Item.taskToken.S --output text
    rm -f "$request"
)

heartbeat() {
    [ "$task_token" != none ] || return 0
    call_sfn send-task-heartbeat token
}

on_exit() {
    status=$?
    trap - EXIT
    if [ "$status" -ne 0 ] && [ "$reported" = no ]; then
        case "$status" in
        2) error=Job.InvalidInput ;;
        143 | 137 | 130) error=Job.Terminated ;;
        *) error=Job.Failed ;;
        esac
        report_failure "$error" "batch job $job_id (attempt ${AWS_BATCH_JOB_ATTEMPT:-1}) exited with status $status" ||
            log "could not report the failure"
    fi
    rm -rf "$workdir"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [ "$task_ref" = none ]; then
    log "started; no task token: Step Functions waits for this job itself"
else
    if ! task_token=$(read_task_token) || [ -z "$task_token" ] || [ "$task_token" = None ]; then
        task_token=none
        log "the task token of reference ...$(printf '%s' "$task_ref" | tail -c 8) cannot be read: nothing to report to"
        exit 3
    fi
    log "started; reporting to task token ...$(printf '%s' "$task_token" | tail -c 8)"
fi

case "$sleep_seconds" in '' | *[!0-9]*) log "SLEEP_SECONDS must be a whole number" && exit 2 ;; esac
case "$heartbeat_interval" in '' | *[!0-9]*) log "HEARTBEAT_INTERVAL_SECONDS must be a whole number" && exit 2 ;; esac
export ENTRY="$entry"
if ! expected=$(make_json expected); then
    log "ENTRY_JSON is not a JSON object"
    exit 2
fi

heartbeat

remaining=$sleep_seconds
while [ "$remaining" -gt 0 ]; do
    step=$remaining
    if [ "$heartbeat_interval" -gt 0 ] && [ "$step" -gt "$heartbeat_interval" ]; then
        step=$heartbeat_interval
    fi
    sleep "$step" &
    wait $! # interruptible, so that a TERM from Batch is handled at once
    remaining=$((remaining - step))
    heartbeat
done

if [ "$expected" = FAILED ]; then
    report_failure Job.SimulatedFailure "the entry asked this sample job to fail (expectedJobStatus FAILED)"
    exit 1
fi

output=$(
    export JOB_ID="$job_id" ARRAY_INDEX="${AWS_BATCH_JOB_ARRAY_INDEX:-}" \
        ATTEMPT="${AWS_BATCH_JOB_ATTEMPT:-1}" WORKED="$sleep_seconds"
    make_json result
)
if [ "$task_token" = none ]; then
    printf '%s\n' "$output"
else
    (export OUTPUT="$output" && call_sfn send-task-success success)
    reported=yes
    log "reported success"
fi
