#!/bin/sh
# The job of one batch of entries: it runs the stack's entry command once per entry (see
# docs/entry-contract.md), a few at a time, while it sends heartbeats to the waiting Step Functions
# task; then it uploads every entry's output files and the batch's report to the runs bucket and
# reports with SendTaskSuccess. The Account function turns the report into the entries' results.
# A failure of the job itself (signal included) is reported with SendTaskFailure, and the job
# exits non-zero.
#
# usage: batch-notify-step-function.sh TASK_REF REPORT_KEY SLEEP_SECONDS HEARTBEAT_INTERVAL_SECONDS
#   TASK_REF       reference of the waiting task's token and the batch's plan in the table
#                  $TASK_TOKEN_TABLE (the job never receives the token itself: Batch shows
#                  parameters to anyone who can describe the job), or "none" for a child of the
#                  array job, which only sleeps SLEEP_SECONDS (Step Functions waits for the job itself)
#   REPORT_KEY     key in the bucket $RUNS_BUCKET of the batch's report (written at the end)
#   SLEEP_SECONDS  an array child's seconds of (pretend) work
#   HEARTBEAT_INTERVAL_SECONDS  seconds between heartbeats; 0 sends one at the start only
#
# What it needs of the image: a POSIX sh and its utilities (mkdir, cat, rm, find, tail, wc, date,
# sleep, kill) and the AWS CLI; no jq, no python3. It never parses JSON: the submit function wrote
# the batch's plan as lines of text, and the report it writes is lengths and bytes. No value of an
# entry is ever pasted into a command line or into JSON text by the shell. The task token is a
# credential: it is never printed and never put on a command line.
set -eu

task_ref=${1:-none}
task_token=none
report_key=${2:-none}
sleep_seconds=${3:-0}
heartbeat_interval=${4:-0}
job_id=${AWS_BATCH_JOB_ID:-local}
job_attempt=${AWS_BATCH_JOB_ATTEMPT:-1}
reported=no
ticker=
workdir=$(mktemp -d)
export AWS_PAGER=""
tab=$(printf '\t')
# An entry's stdout and stderr and the files it writes are capped by ulimit -f (512-byte blocks):
# a command printing without end is stopped (SIGXFSZ) instead of filling the container's disk.
file_blocks=${ENTRY_MAX_FILE_BLOCKS:-2097152}
kill_grace_seconds=${ENTRY_KILL_GRACE_SECONDS:-5}

log() {
    printf '%s [job %s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$job_id" "$*"
}

# now_ms: milliseconds since the epoch, in $ms. The clock is read once, with date (milliseconds where
# it knows %N, as GNU and busybox do; else whole seconds); from then on the shell's own read of
# /proc/uptime (hundredths of a second) counts from there, and starts no process: two date calls an
# entry were most of the contract's own cost (bench/entry_cost.py). Without /proc/uptime, date each time.
case "$(date +%N)" in
*[!0-9]* | '') date_ms() { ms=$(($(date +%s) * 1000)); } ;;
*) date_ms() { ms=$(date +%s%N) && ms=${ms%??????}; } ;;
esac
uptime_cs() { # the uptime in hundredths of a second, in $cs ("12345.67" is 1234567)
    read -r cs _ </proc/uptime || return 1
    cs=${cs%.*}${cs#*.}
    while :; do case "$cs" in 0?*) cs=${cs#0} ;; *) break ;; esac; done # no leading 0: not octal
    case "$cs" in '' | *[!0-9]*) return 1 ;; esac
}
if uptime_cs 2>/dev/null; then
    date_ms
    clock_offset=$((ms - cs * 10))
    now_ms() { if uptime_cs; then ms=$((clock_offset + cs * 10)); else date_ms; fi; }
else
    now_ms() { date_ms; }
fi

# A token is base64 text: anything else could break the JSON it is written into, so it is refused.
token_is_plain() {
    case "$1" in '' | *[!A-Za-z0-9+/=_-]*) return 1 ;; esac
}

# call_sfn ACTION [ERROR CAUSE | OUTPUT_FILE]: a callback request, in a private file, so the token
# is on no command line. ERROR is a fixed word and CAUSE is made of numbers and fixed words.
call_sfn() (
    request="$workdir/request.$$.json"
    umask 077
    case "$1" in
    send-task-heartbeat) printf '{"taskToken":"%s"}' "$task_token" >"$request" ;;
    send-task-failure) printf '{"taskToken":"%s","error":"%s","cause":"%s"}' "$task_token" "$2" "$3" >"$request" ;;
    send-task-success) printf '{"taskToken":"%s","output":"%s"}' "$task_token" "$(sed 's/"/\\"/g' "$2")" >"$request" ;;
    esac
    aws stepfunctions "$1" --cli-input-json "file://$request" >/dev/null
    rm -f "$request"
)

report_failure() {
    [ "$task_token" != none ] || return 0
    call_sfn send-task-failure "$1" "$2"
    reported=yes
    log "reported failure $1"
}

heartbeat() {
    [ "$task_token" != none ] || return 0
    call_sfn send-task-heartbeat
}

# An entry's processes are those whose environment holds its marker, ENTRY_PROCESS (Linux's /proc,
# as on Fargate): a daemon it forked is one of them although it left the process tree.
signal_entry() { # SIGNAL MARKER
    pids=$(grep -l -F "ENTRY_PROCESS=$2" /proc/[0-9]*/environ 2>/dev/null | sed 's,^/proc/,,; s,/environ$,,') || true
    # shellcheck disable=SC2086 # the list of process ids is split on purpose
    [ -z "$pids" ] || kill -s "$1" $pids 2>/dev/null || true
}

# The loop is stopped by a file, not a signal: a TERM sent before the loop's subshell has set its
# trap is lost (dash and busybox, about 4 times in 5 right after the fork).
stop_ticker() {
    if [ -n "$ticker" ]; then
        : >"$workdir/ticker.stop"
        wait "$ticker" 2>/dev/null || true
        ticker=
    fi
}

on_exit() {
    status=$?
    trap - EXIT
    stop_ticker
    for running in "$workdir"/running/*; do
        [ -f "$running" ] && read -r marker _ <"$running" && signal_entry KILL "$marker"
    done
    if [ "$status" -ne 0 ] && [ "$reported" = no ]; then
        case "$status" in
        2) error=Job.InvalidInput ;;
        143 | 137 | 130) error=Job.Terminated ;;
        *) error=Job.Failed ;;
        esac
        report_failure "$error" "batch job $job_id (attempt $job_attempt) exited with status $status" ||
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

check_arguments() {
    case "$sleep_seconds" in '' | *[!0-9]*) log "SLEEP_SECONDS must be a whole number" && exit 2 ;; esac
    case "$heartbeat_interval" in '' | *[!0-9]*) log "HEARTBEAT_INTERVAL_SECONDS must be a whole number" && exit 2 ;; esac
}
if [ "$task_ref" = none ]; then
    check_arguments
    log "started (array child ${AWS_BATCH_JOB_ARRAY_INDEX:-}); no task token: Step Functions waits for this job itself"
    pause "$sleep_seconds"
    log "done"
    exit 0
fi

# The token and the plan's key, read by a lookup that travels in a private file.
(
    umask 077
    case "$task_ref" in '' | *[!A-Za-z0-9_-]*) exit 1 ;; esac
    printf '{"TableName":"%s","Key":{"ref":{"S":"%s"}},"ConsistentRead":true,"ProjectionExpression":"taskToken, planKey"}' \
        "$TASK_TOKEN_TABLE" "$task_ref" >"$workdir/lookup.json"
    aws dynamodb get-item --cli-input-json "file://$workdir/lookup.json" \
        --query '[Item.taskToken.S, Item.planKey.S]' --output text >"$workdir/task.txt"
) || true
IFS=$tab read -r task_token plan_key <"$workdir/task.txt" 2>/dev/null || true
if ! token_is_plain "${task_token:-}" || [ "${plan_key:-None}" = None ]; then
    task_token=none
    log "the task of reference ...$(printf '%s' "$task_ref" | tail -c 8) cannot be read: nothing to report to"
    exit 3
fi
log "started; reporting to task token ...$(printf '%s' "$task_token" | tail -c 8)"
check_arguments # after the token is known, so that bad arguments are reported to the task (Job.InvalidInput)
case "$report_key" in none | '') log "REPORT_KEY is missing" && exit 2 ;; esac
if ! aws s3api get-object --bucket "$RUNS_BUCKET" --key "$plan_key" "$workdir/plan.txt" >/dev/null; then
    log "the batch's plan cannot be read"
    exit 2
fi

# The plan: "setting<TAB>value" lines, an empty line, then "index<TAB>name<TAB>entry as JSON" lines.
command='' timeout=0 attempts=1 backoff=0 parallelism=1 outputs='' run_id='' max_files=0
while IFS=$tab read -r setting value; do
    case "$setting" in
    '') break ;;
    command) command=$value ;;
    timeout) timeout=$value ;;
    attempts) attempts=$value ;;
    backoff) backoff=$value ;;
    parallelism) parallelism=$value ;;
    outputs) outputs=$value ;;
    run) run_id=$value ;;
    maxfiles) max_files=$value ;;
    esac
done <"$workdir/plan.txt"
for number in "$timeout" "$attempts" "$backoff" "$parallelism" "$max_files"; do
    case "$number" in '' | *[!0-9]*) log "the plan's settings are not whole numbers" && exit 2 ;; esac
done
if [ -z "$command" ] || [ "$attempts" -lt 1 ] || [ "$parallelism" -lt 1 ]; then
    log "the plan has no command, or no attempt or entry at once" && exit 2
fi

# The sample command the stack ships (SampleCommandName), on the PATH when the command names it.
sample=${SAMPLE_COMMAND_KEY:-}
sample=${sample%.*}
if [ -n "$sample" ] && { [ "$command" = "$sample" ] || [ "${command#"$sample "}" != "$command" ]; }; then
    mkdir "$workdir/bin"
    aws s3api get-object --bucket "$BATCH_SCRIPT_BUCKET" --key "$SAMPLE_COMMAND_KEY" \
        --version-id "$SAMPLE_COMMAND_VERSION" "$workdir/bin/$sample" >/dev/null
    chmod +x "$workdir/bin/$sample"
    PATH="$workdir/bin:$PATH"
fi

mkdir "$workdir/running" "$workdir/timedout" "$workdir/ended" "$workdir/outputs"
sed '1,/^$/d' "$workdir/plan.txt" >"$workdir/entries.txt"

# The ticker: every second, a heartbeat when due, and the entries past their deadline stopped
# (TERM to the whole process tree, KILL after the grace).
heartbeat
(
    trap - EXIT
    napped=0
    while [ ! -e "$workdir/ticker.stop" ]; do
        pause 1
        now=$(date +%s)
        for running in "$workdir"/running/*; do
            [ -f "$running" ] || continue
            read -r marker deadline killed_at <"$running" || continue
            if [ "${killed_at:-0}" -gt 0 ]; then
                [ $((now - killed_at)) -lt "$kill_grace_seconds" ] || signal_entry KILL "$marker"
            elif [ "$deadline" -eq 0 ] && [ "$timeout" -gt 0 ]; then
                printf '%s %s 0\n' "$marker" $((now + timeout)) >"$running"
            elif [ "$deadline" -gt 0 ] && [ "$now" -ge "$deadline" ] && [ -s "$running" ]; then
                : >"$workdir/timedout/${running##*/}"
                printf '%s %s %s\n' "$marker" "$deadline" "$now" >"$running"
                signal_entry TERM "$marker"
            fi
        done
        napped=$((napped + 1))
        if [ "$heartbeat_interval" -gt 0 ] && [ "$napped" -ge "$heartbeat_interval" ] && [ ! -e "$workdir/ticker.stop" ]; then
            napped=0
            heartbeat || log "heartbeat not sent"
        fi
    done
) &
ticker=$!

# run_entry INDEX NAME ENTRY_JSON: the entry's attempts; leaves its record in ended/INDEX: a header
# line of numbers, then its output document and the end of its standard error.
has_files() { # DIR: whether DIR holds anything (globs only: no process started)
    for found in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        [ -e "$found" ] && return 0
    done
    return 1
}

size_of() { # FILE: its bytes in $size, without starting wc for an empty file
    size=0
    [ ! -s "$1" ] || size=$(($(wc -c <"$1")))
}

# run_entry INDEX NAME ENTRY_JSON: the entry's attempts; leaves its record in ended/INDEX: a header
# line of numbers, then its output document and the end of its standard error. An entry that printed
# nothing and left nothing runs no program but its command (and mkdir, for a folder with a blank
# in its path): the contract's own cost (measured by bench/entry_cost.py).
run_entry() {
    trap - EXIT TERM INT
    dir="$workdir/e$1"
    [ -d "$dir/work" ] || mkdir -p "$dir/work" "$workdir/outputs/$1"
    printf '%s\n' "$3" >"$dir/entry.json"
    now_ms
    started=$ms
    attempt=0
    timed_out=0
    while :; do
        attempt=$((attempt + 1))
        [ "$attempt" -eq 1 ] || rm -f "$dir/output.json" "$workdir/timedout/$1"
        marker="$job_id/$job_attempt/$1/$attempt/"
        # shellcheck disable=SC2094 # the entry's file is its standard input too, and is only read
        (
            ulimit -f "$file_blocks"
            cd "$dir/work"
            ENTRY_INDEX=$1 ENTRY_NAME=$2 ENTRY_RUN=$run_id ENTRY_ATTEMPT=$attempt ENTRY_FILE="$dir/entry.json" \
                ENTRY_OUTPUT="$dir/output.json" ENTRY_OUTPUT_DIR="$workdir/outputs/$1" ENTRY_PROCESS=$marker \
                exec sh -c "$command" entry <"$dir/entry.json" >"$dir/stdout" 2>"$dir/stderr"
        ) &
        pid=$!
        # The ticker sets the deadline when it first sees the entry (a second's precision, as it checks).
        printf '%s 0 0\n' "$marker" >"$workdir/running/$1"
        status=0
        wait "$pid" || status=$?
        : >"$workdir/running/$1" # no longer running (emptied: rm would be one more process)
        timed_out=0
        [ ! -e "$workdir/timedout/$1" ] || timed_out=1
        if [ "$timed_out" -eq 1 ] || [ "$status" -ne 0 ]; then
            signal_entry KILL "$marker" # what it left running does not outlive a failed attempt
        fi
        if [ "$status" -eq 0 ] || [ "$attempt" -ge "$attempts" ]; then break; fi
        [ "$backoff" -eq 0 ] || pause $((backoff << (attempt - 1)))
    done
    now_ms
    ended=$ms
    [ -f "$dir/output.json" ] || : >"$dir/output.json"
    if [ -s "$dir/stderr" ]; then tail -c 4096 "$dir/stderr" >"$dir/stderr.tail"; else : >"$dir/stderr.tail"; fi
    if [ "$status" -ne 0 ]; then # what a failed entry printed goes to the job's log, its last 4 KiB a stream
        log "entry $1 failed (exit $status, attempt $attempt); its stdout and stderr end with:"
        tail -c 4096 "$dir/stdout"
        cat "$dir/stderr.tail"
    fi
    # Past the plan's maxfiles, none of its files is uploaded (the entry fails, Entry.TooManyOutputs).
    files=0
    if has_files "$workdir/outputs/$1"; then
        files=$(($(find "$workdir/outputs/$1" -type f | wc -l)))
        [ "$files" -le "$max_files" ] || rm -rf "${workdir:?}/outputs/$1"
    fi
    size_of "$dir/output.json"
    output_bytes=$size
    size_of "$dir/stderr.tail"
    stderr_bytes=$size
    printf 'entry %s %s %s %s %s %s %s %s %s\n' "$1" "$status" "$timed_out" "$attempt" "$started" "$ended" \
        "$output_bytes" "$stderr_bytes" "$files" >"$workdir/ended/$1"
    if [ "$output_bytes" -gt 0 ] || [ "$stderr_bytes" -gt 0 ]; then
        cat "$dir/output.json" "$dir/stderr.tail" >>"$workdir/ended/$1"
    fi
    # What it printed or left in its folder can be large: gone now; an empty folder waits for the job's end.
    if [ -s "$dir/stdout" ] || [ -s "$dir/stderr" ] || has_files "$dir/work"; then rm -rf "$dir"; fi
}

# Every entry's folders at once: one mkdir, not one an entry (a path with a blank: one an entry, above).
case "$workdir" in *[[:space:]]*) ;; *)
    cut -f1 "$workdir/entries.txt" | grep -x '[0-9][0-9]*' |
        sed "s|.*|$workdir/e& $workdir/e&/work $workdir/outputs/&|" | xargs mkdir 2>/dev/null || :
    ;;
esac

total=0
running=
while IFS=$tab read -r index name entry; do
    [ -n "$index" ] || continue
    case "$index" in *[!0-9]*) continue ;; esac
    run_entry "$index" "$name" "$entry" &
    running="$running $!"
    total=$((total + 1))
    if [ $((total % parallelism)) -eq 0 ]; then
        # shellcheck disable=SC2086 # the list of process ids is split on purpose
        wait $running
        running=
    fi
done <"$workdir/entries.txt"
# shellcheck disable=SC2086
[ -z "$running" ] || wait $running
signal_entry KILL "$job_id/$job_attempt/" # whatever an entry left running (a daemon) ends with the job's work
stop_ticker

# The report: every entry's record, in the plan's order.
: >"$workdir/report"
failed=0
while IFS=$tab read -r index _; do
    case "$index" in '' | *[!0-9]*) continue ;; esac
    read -r _ _ status _ <"$workdir/ended/$index"
    [ "$status" -eq 0 ] || failed=$((failed + 1))
    cat "$workdir/ended/$index" >>"$workdir/report"
done <"$workdir/entries.txt"
# A task that closed meanwhile (its timeout) has had its batch accounted as failed: the job stops.
heartbeat
if [ -n "$(find "$workdir/outputs" -type f | head -n 1)" ]; then
    aws s3 cp --recursive --only-show-errors "$workdir/outputs/" "$outputs"
fi
aws s3api put-object --bucket "$RUNS_BUCKET" --key "$report_key" --body "$workdir/report" \
    --content-type application/octet-stream >/dev/null
printf '{"jobId":"%s","attempt":%s,"entries":%s,"failed":%s}' "$job_id" "$job_attempt" "$total" "$failed" \
    >"$workdir/output.json"
call_sfn send-task-success "$workdir/output.json"
reported=yes
log "reported $total entries: $((total - failed)) succeeded, $failed failed"
