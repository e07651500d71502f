"""Step Functions: the Distributed Map, as AWS runs it.

moto 5.2.5's interpreter refuses definitions that use ItemBatcher, ResultWriter.WriterConfig,
JSON Lines or an integer ToleratedFailurePercentage; it runs a Distributed Map's items as frames
inside the parent (no child executions, nothing to list or describe), never enforces the
tolerated-failure thresholds and writes only an empty manifest. Written by hand because no library
runs a Distributed Map offline: the definition's distributed fields are taken aside before moto
parses it (`split_distributed`), and the Map state itself is run here (`MapRun`) with moto's own
pieces wherever they fit: its payload templates and paths (for ItemReader.Parameters, BatchInput,
ResultWriter.Parameters and the ...Path fields), its MaxConcurrency, ItemSelector and Label, its
Map Run records (DescribeMapRun, ListMapRuns) and real executions for the children (their own
histories, DescribeExecution, StopExecution, callbacks).

What AWS does, and where it is documented or was recorded:
- children are STANDARD executions named by a UUID, `...:execution:<machine>/<label>:<uuid>`, of
  the state machine `...:stateMachine:<machine>/<label>`; ListExecutions(mapRunArn) lists them,
  DescribeExecution gives their mapRunArn (developer guide, "Distributed Map state"; API reference);
- the parent records MapStateStarted (length 0 with an ItemReader), MapRunStarted {mapRunArn},
  MapRunSucceeded or MapRunFailed {error, cause}, then MapStateSucceeded or MapStateFailed (recorded:
  localstack tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json);
- ItemBatcher hands a child {"Items": [...], "BatchInput": {...}}; MaxItemsPerBatch and
  MaxInputBytesPerBatch (at most 256 KiB, the default) bound a batch ("ItemBatcher (Map)");
- the ItemReader reads one S3 object: a JSON array, JSON Lines, or CSV whose fields are strings; or
  lists the objects under a prefix (s3:listObjectsV2), each an item {Etag, Key, LastModified, Size,
  StorageClass}; ReaderConfig.MaxItems(Path) bounds what is read (0: everything, a negative value
  "field MaxItems must be positive"); a reading failure is States.ItemReaderFailed ("ItemReader (Map)";
  recorded: "Attempting to map over non-iterable node.");
- ItemSelector (or Parameters, its former name) makes each item's input, with $$.Map.Item.Index and
  $$.Map.Item.Value, before items are batched ("ItemSelector (Map)");
- a failed or timed-out child counts every item it held as failed; past ToleratedFailureCount or
  ToleratedFailurePercentage (items failed over items read), the Map Run stops starting children,
  aborts those running and fails with States.ExceedToleratedFailureThreshold, "The specified
  tolerated failure threshold was exceeded" (recorded with TestState); without either field one
  failure is too many ("Map state: tolerated failure threshold");
- ResultWriter writes <Prefix>/<map run id>/manifest.json and SUCCEEDED_0.json, FAILED_0.json,
  PENDING_0.json (only those with records); records hold the child's ExecutionArn, Input, Output,
  Status, dates...; WriterConfig chooses JSON or JSONL and NONE, COMPACT (outputs only) or FLATTEN
  (array outputs flattened); failed children are always written whole; the Map's output is then
  {"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}} ("ResultWriter (Map)");
- UpdateMapRun changes a running Map Run: its maxConcurrency bounds the children started from then
  on (0: no bound), its toleratedFailureCount/Percentage decide whether the failures so far and to
  come fail it; a Map Run that has ended cannot be updated (API reference, "UpdateMapRun"; the
  service model's ValidationException reason CANNOT_UPDATE_COMPLETED_MAP_RUN).
Not reproduced: ItemReader over manifests and Parquet; redrive of a Map Run; the order and exact
wording of validation messages AWS gives.
"""

import contextlib
import csv
import io
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from local_emulator.patches.registry import Patcher, patch
from local_emulator.patches.stepfunctions import has_started

LOG = logging.getLogger(__name__)
MOTO = "5.2.5"
GUIDE = "https://docs.aws.amazon.com/step-functions/latest/dg"
RECORDED = "localstack/localstack tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json"

MAX_BATCH_BYTES = 262144
MAX_CONCURRENCY = 10000  # what "0" (unbounded) means for a Distributed Map
THRESHOLD_ERROR = "States.ExceedToleratedFailureThreshold"
THRESHOLD_CAUSE = "The specified tolerated failure threshold was exceeded"
READER_ERROR = "States.ItemReaderFailed"
WRITER_ERROR = "States.ResultWriterFailed"
# Fields of a distributed Map that moto's parser refuses or that this module runs itself.
TAKEN_ASIDE = (
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
)
READER_TYPES = ("JSON", "JSONL", "CSV")
GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
MAX_ITEMS = 100_000_000  # ReaderConfig.MaxItems at most; 0 reads everything


# -- the definition --------------------------------------------------------------------------
@dataclass
class DistributedSpec:
    """A distributed Map's fields that this module runs; `templates` holds the payload templates
    and paths, evaluated together against the Map's input by a Pass state moto parses."""

    fields: dict[str, Any]
    child_definition: dict[str, Any]
    templates: dict[str, Any] = field(default_factory=dict)
    template_program: Any = None


def is_distributed(state: dict[str, Any]) -> bool:
    processor = state.get("ItemProcessor")
    return (
        state.get("Type") == "Map"
        and isinstance(processor, dict)
        and (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    )


def split_distributed(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, DistributedSpec]]:
    """The definition without the fields this module runs, and each distributed Map's spec by
    state name (names are unique in a state machine). Distributed Maps nested in a child's
    definition are split when that child's execution parses it."""
    specs: dict[str, DistributedSpec] = {}
    query_language = definition.get("QueryLanguage")

    def walk(states: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, state in states.items():
            state = dict(state)
            if is_distributed(state):
                specs[name] = spec_of(state, query_language)
                for key in TAKEN_ASIDE:
                    state.pop(key, None)
                state.pop("ItemsPath", None)  # with a reader, or read by this module
            elif state.get("Type") == "Parallel":
                state["Branches"] = [{**b, "States": walk(b["States"])} for b in state["Branches"]]
            elif state.get("Type") == "Map":
                key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
                state[key] = {**state[key], "States": walk(state[key]["States"])}
            out[name] = state
        return out

    return {**definition, "States": walk(definition.get("States", {}))}, specs


def spec_of(state: dict[str, Any], query_language: str | None) -> DistributedSpec:
    processor = {k: v for k, v in state["ItemProcessor"].items() if k != "ProcessorConfig"}
    if query_language and "QueryLanguage" not in processor:
        processor["QueryLanguage"] = query_language
    fields = {k: state[k] for k in (*TAKEN_ASIDE, "ItemsPath") if k in state}
    templates: dict[str, Any] = {}
    reader = fields.get("ItemReader") or {}
    if "Parameters" in reader:
        templates["reader"] = reader["Parameters"]
    if "MaxItemsPath" in (reader.get("ReaderConfig") or {}):
        templates["MaxItemsPath.$"] = reader["ReaderConfig"]["MaxItemsPath"]
    batcher = fields.get("ItemBatcher") or {}
    if "BatchInput" in batcher:
        templates["batchInput"] = batcher["BatchInput"]
    for key in ("MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"):
        if key in batcher:
            templates[f"{key}.$"] = batcher[key]
    writer = fields.get("ResultWriter") or {}
    if "Parameters" in writer:
        templates["writer"] = writer["Parameters"]
    for key in ("ToleratedFailurePercentagePath", "ToleratedFailureCountPath", "ItemsPath"):
        if key in fields and not (key == "ItemsPath" and reader):
            templates[f"{key}.$"] = fields[key]
    return DistributedSpec(fields=fields, child_definition=processor, templates=templates)


def definition_problems(definition: dict[str, Any]) -> list[str]:
    """What CreateStateMachine refuses in the distributed Maps of DEFINITION (AWS's schema checks,
    those this application can meet)."""
    problems: list[str] = []

    def check(states: dict[str, Any], where: str) -> None:
        for name, state in states.items():
            at = f"{where}/States/{name}"
            if is_distributed(state):
                problems.extend(map_problems(state, at))
            for branch_index, branch in enumerate(state.get("Branches", [])):
                check(branch.get("States", {}), f"{at}/Branches[{branch_index}]")
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    check(state[key].get("States", {}), f"{at}/{key}")

    check(definition.get("States", {}), "")
    return problems


def map_problems(state: dict[str, Any], at: str) -> list[str]:
    problems = []

    def bad(field_name: str, rule: str, where: str = at) -> None:
        problems.append(f"SCHEMA_VALIDATION_FAILED: The value for the field '{field_name}' {rule} at {where}")

    def positive_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    reader = state.get("ItemReader")
    if reader is not None:
        if reader.get("Resource") not in (GET_OBJECT, LIST_OBJECTS):
            bad(
                "Resource",
                f"must be {GET_OBJECT} or {LIST_OBJECTS} here (the emulator reads one object or lists a prefix)",
                f"{at}/ItemReader",
            )
        config = reader.get("ReaderConfig") or {}
        input_type = config.get("InputType", "JSON")
        if input_type not in READER_TYPES:
            bad("InputType", f"must be one of {', '.join(READER_TYPES)}", f"{at}/ItemReader/ReaderConfig")
        max_items = config.get("MaxItems")
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, int) or not 0 <= max_items <= MAX_ITEMS
        ):
            bad("MaxItems", f"must be an integer from 0 to {MAX_ITEMS}", f"{at}/ItemReader/ReaderConfig")
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        where = f"{at}/ItemBatcher"
        given = [
            k
            for k in ("MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")
            if k in batcher
        ]
        if not given:
            problems.append(
                "SCHEMA_VALIDATION_FAILED: ItemBatcher must specify MaxItemsPerBatch(Path) or "
                f"MaxInputBytesPerBatch(Path) at {where}"
            )
        for key in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if key in batcher and f"{key}Path" in batcher:
                problems.append(f"SCHEMA_VALIDATION_FAILED: {key} and {key}Path are mutually exclusive at {where}")
            if key in batcher and not positive_int(batcher[key]):
                bad(key, "must be a positive integer", where)
        if positive_int(batcher.get("MaxInputBytesPerBatch")) and batcher["MaxInputBytesPerBatch"] > MAX_BATCH_BYTES:
            bad("MaxInputBytesPerBatch", f"must be at most {MAX_BATCH_BYTES}", where)
    percentage = state.get("ToleratedFailurePercentage")
    if percentage is not None and (
        isinstance(percentage, bool) or not isinstance(percentage, int | float) or not 0 <= percentage <= 100
    ):
        bad("ToleratedFailurePercentage", "must be a number between 0 and 100")
    count = state.get("ToleratedFailureCount")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        bad("ToleratedFailureCount", "must be a non-negative integer")
    writer = state.get("ResultWriter")
    if writer is not None:
        has_target = "Resource" in writer and "Parameters" in writer
        if not has_target and "WriterConfig" not in writer:
            problems.append(
                "SCHEMA_VALIDATION_FAILED: ResultWriter needs Resource and Parameters, WriterConfig, or "
                f"all three at {at}/ResultWriter"
            )
        if "Resource" in writer and writer["Resource"] != "arn:aws:states:::s3:putObject":
            bad("Resource", "must be arn:aws:states:::s3:putObject", f"{at}/ResultWriter")
        config = writer.get("WriterConfig") or {}
        if config.get("OutputType", "JSON") not in ("JSON", "JSONL"):
            bad("OutputType", "must be JSON or JSONL", f"{at}/ResultWriter/WriterConfig")
        if config.get("Transformation", "NONE") not in ("NONE", "COMPACT", "FLATTEN"):
            bad("Transformation", "must be NONE, COMPACT or FLATTEN", f"{at}/ResultWriter/WriterConfig")
    label = state.get("Label")
    if label is not None and (
        not isinstance(label, str) or not 0 < len(label) <= 40 or any(c in label for c in ' ?*<>{}[]:;,\\|^~$#%&`"')
    ):
        bad("Label", 'must be 1 to 40 characters, none of whitespace ? * < > { } [ ] : ; , \\ | ^ ~ $ # % & ` "')
    return problems


def attach_specs(program: Any, specs: dict[str, DistributedSpec]) -> None:
    """Hand each distributed Map state of PROGRAM (a parsed state machine) its spec."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap

    seen: set[int] = set()
    pending = [program]
    while pending:
        component = pending.pop()
        if id(component) in seen:
            continue
        seen.add(id(component))
        if isinstance(component, StateMap) and component.name in specs:
            component._distributed_spec = specs[component.name]
        for value in vars(component).values():
            candidates = (
                value
                if isinstance(value, list | tuple)
                else list(value.values())
                if isinstance(value, dict)
                else [value]
            )
            pending.extend(v for v in candidates if isinstance(v, Component))


def template_program(templates: dict[str, Any]) -> Any:
    """A parsed Pass state whose Parameters are TEMPLATES: moto evaluates them as AWS would."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definition = {"StartAt": "T", "States": {"T": {"Type": "Pass", "Parameters": templates, "End": True}}}
    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    return program.states.states["T"].parameters


@patch(
    service="stepfunctions",
    defect="CreateStateMachine refuses a Distributed Map with ItemBatcher, ResultWriter.WriterConfig, a JSON "
    "Lines ItemReader or an integer ToleratedFailurePercentage, and accepts an ItemBatcher with no bound",
    aws="all four are valid (ItemBatcher, ReaderConfig InputType JSONL, WriterConfig, a percentage from 0 to "
    "100); an ItemBatcher must give MaxItemsPerBatch(Path) or MaxInputBytesPerBatch(Path), at most 256 KiB; "
    "ReaderConfig.MaxItems is an integer from 0 to 100,000,000",
    reference=f"{GUIDE}/input-output-itembatcher.html, {GUIDE}/input-output-itemreader.html, "
    f"{GUIDE}/input-output-resultwriter.html, {GUIDE}/state-map-distributed.html",
    seen_in=MOTO,
)
def distributed_map_definitions_are_accepted(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.api import InvalidDefinition
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    parse = AmazonStateLanguageParser.parse
    validate = StepFunctionsParserBackend._validate_definition

    def parse_split(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except ValueError:
            return parse(definition)
        if not isinstance(document, dict):
            return parse(definition)
        stripped, specs = split_distributed(document)
        if not specs:
            return parse(definition)
        program, tree = parse(json.dumps(stripped))
        for spec in specs.values():
            spec.template_program = template_program(spec.templates) if spec.templates else None
        attach_specs(program, specs)
        return program, tree

    def validate_definition(definition: str) -> None:
        try:
            document = json.loads(definition)
        except ValueError:
            document = None
        if isinstance(document, dict):
            problems = definition_problems(document)
            if problems:
                raise InvalidDefinition(message=f"Invalid State Machine Definition: '{', '.join(problems)}'")
        validate(definition)

    patcher.replace(AmazonStateLanguageParser, "parse", staticmethod(parse_split))
    patcher.replace(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))


# -- the run ---------------------------------------------------------------------------------
class MapRunFailedError(Exception):
    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Child:
    index: int
    input: Any
    items: int
    execution: Any = None
    status: str = "PENDING"  # PENDING, RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED


class MapRun:
    """One run of a distributed Map state: items read and batched, children started as executions
    within MaxConcurrency, the thresholds enforced, the results written."""

    def __init__(self, state: Any, spec: DistributedSpec, env: Any) -> None:
        self.state, self.spec, self.env = state, spec, env
        self.fields = spec.fields
        self.lock = threading.Condition()
        self.children: list[Child] = []
        self.failed_items = 0
        self.total_items = 0
        # Set as the children start (run_children); UpdateMapRun changes them while they run (`update`).
        self.max_concurrency = MAX_CONCURRENCY
        self.tolerated_count: int | None = None
        self.tolerated_percentage: float | None = None

    # ---- evaluation of the templates, with moto's own machinery
    def evaluate_templates(self) -> dict[str, Any]:
        if self.spec.template_program is None:
            return {}
        frame = self.env.open_frame()
        try:
            state_input = self.env.states.get_input()
            frame.states.reset(input_value=state_input)
            frame.stack.append(state_input)  # paths read their input from the stack's top
            self.spec.template_program.eval(frame)
            return frame.stack.pop()
        finally:
            self.env.close_frame(frame)

    def run(self) -> None:
        from moto.stepfunctions.parser.api import HistoryEventType, MapRunStartedEventDetails
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
            map_run_record,
        )
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        env, state = self.env, self.state
        state.max_concurrency_decl.eval(env=env)
        max_concurrency = env.stack.pop() or MAX_CONCURRENCY
        values = self.evaluate_templates()
        reader = self.fields.get("ItemReader")
        items = None if reader else self.items_from_input(values)
        # As moto does: the tolerance fields are read after MapStateStarted, but a failure of theirs
        # cites the event the state was entered at (AWS's quirk), so they are read in a frame opened
        # before it.
        frame = env.open_frame()
        try:
            self.map_state_started(length=0 if reader else len(items))
            count, percentage = self.tolerance(values, frame)
        finally:
            env.close_frame(frame)

        context = env.states.context_object.context_object_data
        self.record = map_run_record.MapRunRecord(
            state_machine_arn=context["StateMachine"]["Id"],
            execution_arn=context["Execution"]["Id"],
            max_concurrency=max_concurrency,
            tolerated_failure_count=count or 0,
            tolerated_failure_percentage=float(percentage or 0),
            label=state.label.label if state.label else None,
        )
        env.map_run_record_pool_manager.add(self.record)
        self.registry = registry_of(env)
        self.registry.add_record(self.record)
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.MapRunStarted,
            event_details=EventDetails(
                mapRunStartedEventDetails=MapRunStartedEventDetails(mapRunArn=self.record.map_run_arn)
            ),
        )
        try:
            if items is None:
                items = read_items(reader, values, env.aws_execution_details)
            items = self.selected(items)
            self.total_items = len(items)
            self.children = self.batched(items, values)
            self.record.item_counter.total.offset(self.total_items)
            self.record.execution_counter.total.offset(len(self.children))
            self.record.item_counter.pending.offset(self.total_items)
            self.record.execution_counter.pending.offset(len(self.children))
            exceeded = self.run_children(max_concurrency, count, percentage)
            if not env.is_running():  # the parent was stopped: its children are aborted, nothing more
                env.stack.append(None)
                return
            output = self.write_results(values) if "ResultWriter" in self.fields else self.outputs()
            if exceeded:
                raise MapRunFailedError(THRESHOLD_ERROR, THRESHOLD_CAUSE)
        except MapRunFailedError as failure:
            self.end("FAILED", failure.error, failure.cause)
            raise self.failure_exception(failure.error, failure.cause) from None
        self.end("SUCCEEDED")
        env.stack.append(output)

    def region(self) -> str:
        return self.env.aws_execution_details.region

    def map_state_started(self, length: int) -> None:
        from moto.stepfunctions.parser.api import HistoryEventType, MapStateStartedEventDetails
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.MapStateStarted,
            event_details=EventDetails(mapStateStartedEventDetails=MapStateStartedEventDetails(length=length)),
        )

    def items_from_input(self, values: dict[str, Any]) -> list[Any]:
        items = (
            values.get("ItemsPath", self.env.states.get_input())
            if "ItemsPath" in self.fields
            else self.env.states.get_input()
        )
        if not isinstance(items, list):
            raise self.failure_exception(
                "States.Runtime", f"Map state input must be an array but was: {type(items).__name__}", runtime=True
            )
        return items

    def tolerance(self, values: dict[str, Any], env: Any) -> tuple[int | None, float | None]:
        """ToleratedFailureCount and ToleratedFailurePercentage, or their paths' values; an invalid one
        fails the execution, the failure made in ENV."""
        count = values.get("ToleratedFailureCountPath", self.fields.get("ToleratedFailureCount"))
        percentage = values.get("ToleratedFailurePercentagePath", self.fields.get("ToleratedFailurePercentage"))
        problem = None
        if count is not None:
            if isinstance(count, bool) or not isinstance(count, int):
                problem = (
                    f'The ToleratedFailureCountPath field refers to value "{count}" which is not a valid integer: '
                    f"{self.fields.get('ToleratedFailureCountPath')}"
                )
            elif count < 0:
                problem = "ToleratedFailureCount cannot be negative."
        if percentage is not None and problem is None:
            if isinstance(percentage, bool) or not isinstance(percentage, int | float):
                problem = (
                    f'The ToleratedFailurePercentagePath field refers to value "{percentage}" which is not a valid '
                    f"float: {self.fields.get('ToleratedFailurePercentagePath')}"
                )
            elif not 0 <= percentage <= 100:
                problem = "ToleratedFailurePercentage must be between 0 and 100."
        if problem is not None:
            raise self.failure_exception("States.Runtime", problem, runtime=True, env=env)
        return count, percentage

    def selected(self, items: list[Any]) -> list[Any]:
        """Each item through ItemSelector, or Parameters (its former name; moto's either), with
        $$.Map.Item as AWS sets it."""
        selector = self.state.item_selector or self.state.parameters
        if selector is None:
            return items
        from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

        state_input = self.env.states.get_input()
        out = []
        frame = self.env.open_frame()
        try:
            for index, item in enumerate(items):
                frame.states.context_object.context_object_data["Map"] = MapData(Item=ItemData(Index=index, Value=item))
                frame.states.reset(input_value=state_input)
                frame.stack.append(state_input)
                selector.eval(frame)
                out.append(frame.stack.pop())
                frame.stack.clear()
        finally:
            self.env.close_frame(frame)
        return out

    def batched(self, items: list[Any], values: dict[str, Any]) -> list[Child]:
        batcher = self.fields.get("ItemBatcher")
        if batcher is None:
            return [Child(index, item, 1) for index, item in enumerate(items)]
        max_items = values.get("MaxItemsPerBatchPath", batcher.get("MaxItemsPerBatch"))
        max_bytes = values.get("MaxInputBytesPerBatchPath", batcher.get("MaxInputBytesPerBatch", MAX_BATCH_BYTES))
        for name, value in (("MaxItemsPerBatch", max_items), ("MaxInputBytesPerBatch", max_bytes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise self.failure_exception(
                    "States.Runtime", f"{name} must resolve to a positive integer, got {value!r}", runtime=True
                )
        max_bytes = min(max_bytes, MAX_BATCH_BYTES)
        extra = {"BatchInput": values["batchInput"]} if "batchInput" in values else {}
        overhead = len(json.dumps({"Items": [], **extra}, separators=(",", ":")).encode())
        children: list[Child] = []
        batch: list[Any] = []
        size = overhead
        for item in items:
            item_size = len(json.dumps(item, separators=(",", ":")).encode()) + 1
            full = batch and ((max_items is not None and len(batch) >= max_items) or size + item_size > max_bytes)
            if full:
                children.append(Child(len(children), {"Items": batch, **extra}, len(batch)))
                batch, size = [], overhead
            if overhead + item_size > max_bytes:
                raise MapRunFailedError(
                    "States.Runtime", f"an item of {item_size} bytes does not fit a batch of {max_bytes} bytes"
                )
            batch.append(item)
            size += item_size
        if batch:
            children.append(Child(len(children), {"Items": batch, **extra}, len(batch)))
        return children

    # ---- the children
    def run_children(self, max_concurrency: int, count: int | None, percentage: float | None) -> bool:
        """Start every child within MAX_CONCURRENCY, or what UpdateMapRun sets meanwhile; True when the
        thresholds (COUNT, PERCENTAGE, or UpdateMapRun's) were exceeded."""
        self.max_concurrency, self.tolerated_count, self.tolerated_percentage = max_concurrency, count, percentage
        self.registry.map_run_started(self)
        try:
            return self.start_children_in_turn()
        finally:
            self.registry.map_run_ended(self)

    def start_children_in_turn(self) -> bool:
        """Children started as the max concurrency allows, stopped past the thresholds (read at each turn)."""
        pending = list(self.children)
        running: list[Child] = []
        exceeded = False
        with self.lock:
            while pending or running:
                stopping = exceeded or not self.env.is_running()
                while pending and len(running) < self.max_concurrency and not stopping:
                    child = pending.pop(0)
                    self.start(child)
                    running.append(child)
                for child in [c for c in running if c.status != "RUNNING"]:
                    running.remove(child)
                    if child.status in ("FAILED", "TIMED_OUT", "ABORTED"):
                        self.failed_items += child.items
                if not exceeded and self.failed_items and self.over():
                    exceeded = True
                if exceeded or not self.env.is_running():
                    for child in running:
                        child.execution.stop(datetime.now(UTC), None, None)
                    if not running:
                        break
                # Children end in their own threads and notify, as UpdateMapRun does; the timeout
                # also notices the parent being stopped, which nothing notifies.
                self.lock.wait(timeout=0.5)
        return exceeded

    def over(self) -> bool:
        count, percentage = self.tolerated_count, self.tolerated_percentage
        if count is None and percentage is None:
            return self.failed_items > 0
        over_count = count is not None and self.failed_items > count
        over_percentage = percentage is not None and self.failed_items * 100 > percentage * self.total_items
        return over_count or over_percentage

    def update(self, max_concurrency: int | None, count: int | None, percentage: float | None) -> None:
        """UpdateMapRun's values (None: unchanged), in force for the next child started and failure counted."""
        with self.lock:
            if max_concurrency is not None:
                self.max_concurrency = max_concurrency or MAX_CONCURRENCY
            if count is not None:
                self.tolerated_count = count
            if percentage is not None:
                self.tolerated_percentage = float(percentage)
            self.lock.notify_all()

    def start(self, child: Child) -> None:
        from moto.stepfunctions.parser.api import StateMachineType
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

        details = self.env.aws_execution_details
        run = self

        class Communication(BaseExecutionWorkerCommunication):
            def terminated(self) -> None:
                super().terminated()
                run.child_ended(child)

        class ChildExecution(Execution):
            def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
                return Communication(self)

            def _get_start_execution_worker(self) -> Any:
                worker = super()._get_start_execution_worker()
                logic = worker._execution_logic

                def ending_whatever_happens() -> None:
                    # moto's worker thread dies silently on an error of its own, and the child would
                    # stay RUNNING with its Map waiting for ever; on AWS every child ends.
                    try:
                        logic()
                    except Exception as error:
                        LOG.exception("child execution %s failed in the emulator", self.exec_arn)
                        run.child_crashed(child, error)

                worker._execution_logic = ending_whatever_happens
                return worker

        name = str(uuid.uuid4())
        machine = self.record.map_state_machine_arn
        child_machine = MapRunStateMachine(
            name=machine.split(":")[-1],
            arn=machine,
            definition=json.dumps(self.spec.child_definition),
            role_arn=details.role_arn,
            logging_config={},
        )
        execution = ChildExecution(
            name=name,
            sm_type=StateMachineType.STANDARD,
            role_arn=details.role_arn,
            exec_arn=f"{machine.replace(':stateMachine:', ':execution:')}:{name}",
            account_id=details.account,
            region_name=details.region,
            state_machine=child_machine,
            start_date=datetime.now(UTC),
            cloud_watch_logging_session=None,
            activity_store={},
            input_data=json.dumps(child.input),
        )
        execution.map_run_arn = self.record.map_run_arn
        child.execution, child.status = execution, "RUNNING"
        self.registry.add(execution)
        for counter, amount in ((self.record.item_counter, child.items), (self.record.execution_counter, 1)):
            counter.pending.offset(-amount)
            counter.running.offset(amount)
        execution.start()

    def child_ended(self, child: Child) -> None:
        status = str(getattr(child.execution.exec_status, "value", child.execution.exec_status))
        self.registry.ended(child.execution)
        with self.lock:
            child.status = status
            for counter, amount in ((self.record.item_counter, child.items), (self.record.execution_counter, 1)):
                counter.running.offset(-amount)
                ended = {"SUCCEEDED": counter.succeeded, "FAILED": counter.failed, "TIMED_OUT": counter.timed_out}
                ended.get(status, counter.aborted).offset(amount)
                counter.results_written.offset(amount)
            self.lock.notify_all()

    def child_crashed(self, child: Child, error: Exception) -> None:
        """A child whose run failed inside the emulator: FAILED (States.Runtime), counted like any failure."""
        from moto.stepfunctions.parser.api import ExecutionStatus

        if child.status != "RUNNING":  # it ended and was counted; what failed came after
            return
        execution = child.execution
        execution.stop_date = datetime.now(UTC)
        execution.exec_status = ExecutionStatus.FAILED
        execution.error = "States.Runtime"
        execution.cause = f"The emulator could not run this execution: {type(error).__name__}: {error}"
        self.child_ended(child)

    def outputs(self) -> list[Any]:
        return [c.execution.output if c.status == "SUCCEEDED" else None for c in self.children]

    # ---- results
    def write_results(self, values: dict[str, Any]) -> dict[str, Any]:
        writer = self.fields["ResultWriter"]
        config = writer.get("WriterConfig") or {}
        transformation = config.get("Transformation", "NONE")
        output_type = config.get("OutputType", "JSON")
        files: dict[str, list[Any]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
        for child in self.children:
            if child.status == "SUCCEEDED":
                output = child.execution.output
                if transformation == "NONE":
                    files["SUCCEEDED"].append(self.record_of(child))
                elif transformation == "FLATTEN" and isinstance(output, list):
                    files["SUCCEEDED"].extend(output)
                else:
                    files["SUCCEEDED"].append(output)
            elif child.status == "PENDING":
                files["PENDING"].append({"Input": json.dumps(child.input), "Status": "PENDING"})
            else:
                files["FAILED"].append(self.record_of(child))
        target = values.get("writer")
        if target is None:  # WriterConfig only: the results are the Map's output
            return files["SUCCEEDED"]
        bucket, prefix = target["Bucket"], str(target.get("Prefix", "")).rstrip("/")
        run_id = self.record.map_run_arn.rsplit(":", 1)[-1]
        base = f"{prefix}/{run_id}" if prefix else run_id
        manifest = {"DestinationBucket": bucket, "MapRunArn": self.record.map_run_arn, "ResultFiles": {}}
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        role = StateCredentials(role_arn=self.env.aws_execution_details.role_arn)
        s3 = boto_client_for(region=self.region(), service="s3", state_credentials=role)
        try:
            for kind, records in files.items():
                manifest["ResultFiles"][kind] = []
                if not records:
                    continue
                if output_type == "JSONL":
                    body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
                else:
                    body = json.dumps(records, separators=(",", ":")).encode()
                key = f"{base}/{kind}_0.json"
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                manifest["ResultFiles"][kind].append({"Key": key, "Size": len(body)})
            s3.put_object(Bucket=bucket, Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode())
        except Exception as exc:  # any S3 failure is the writer's failure
            raise MapRunFailedError(WRITER_ERROR, f"{type(exc).__name__}: {exc}") from exc
        return {
            "MapRunArn": self.record.map_run_arn,
            "ResultWriterDetails": {"Bucket": bucket, "Key": f"{base}/manifest.json"},
        }

    def record_of(self, child: Child) -> dict[str, Any]:
        execution = child.execution
        record = {
            "ExecutionArn": execution.exec_arn,
            "Input": json.dumps(child.input, separators=(",", ":")),
            "InputDetails": {"Included": True},
            "Name": execution.name,
            "RedriveCount": 0,
            "RedriveStatus": "NOT_REDRIVABLE",
            "StartDate": iso(execution.start_date),
            "StateMachineArn": execution.state_machine.arn,
            "Status": child.status,
            "StopDate": iso(execution.stop_date),
        }
        if child.status == "SUCCEEDED":
            record |= {
                "Output": json.dumps(execution.output, separators=(",", ":")),
                "OutputDetails": {"Included": True},
            }
        else:
            record |= {k: v for k, v in (("Error", execution.error), ("Cause", execution.cause)) if v is not None}
        return record

    # ---- the end
    def end(self, status: str, error: str | None = None, cause: str | None = None) -> None:
        from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails, MapRunStatus
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        if status == "SUCCEEDED":
            self.env.event_manager.add_event(
                context=self.env.event_history_context, event_type=HistoryEventType.MapRunSucceeded
            )
            self.record.set_stop(MapRunStatus.SUCCEEDED)
            self.env.event_manager.add_event(
                context=self.env.event_history_context,
                event_type=HistoryEventType.MapStateSucceeded,
                update_source_event_id=False,
            )
            return
        details = MapRunFailedEventDetails(error=error, cause=cause)
        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(mapRunFailedEventDetails=details),
        )
        self.record.set_stop(MapRunStatus.FAILED)

    def failure_exception(self, error: str, cause: str, runtime: bool = False, env: Any = None) -> Exception:
        from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
            FailureEvent,
            FailureEventException,
        )
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
            StatesErrorNameType,
        )
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        return FailureEventException(
            failure_event=FailureEvent(
                env=env or self.env,
                error_name=StatesErrorName(typ=StatesErrorNameType.from_name(error)),
                event_type=HistoryEventType.ExecutionFailed if runtime else HistoryEventType.MapRunFailed,
                event_details=EventDetails(
                    executionFailedEventDetails=ExecutionFailedEventDetails(error=error, cause=cause)
                ),
            )
        )


def iso(moment: Any) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def read_items(reader: dict[str, Any], values: dict[str, Any], details: Any) -> list[Any]:
    """The items ItemReader reads (VALUES: the templates' values; DETAILS: the execution's account,
    region and role), at most MaxItems(Path) of them; States.ItemReaderFailed when they cannot be read."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    config = reader.get("ReaderConfig") or {}
    limit = max_items(config, values)
    parameters = values.get("reader") or {}
    if reader["Resource"] == LIST_OBJECTS:
        items = listed_objects(parameters, details)
        return items[:limit] if limit else items
    input_type = config.get("InputType", "JSON")
    try:
        s3 = boto_client_for(region=details.region, service="s3", state_credentials=StateCredentials(details.role_arn))
        body = s3.get_object(**parameters)["Body"].read().decode("utf-8")
    except Exception as exc:  # any failure to read is the reader's failure
        raise MapRunFailedError(READER_ERROR, f"{type(exc).__name__}: {exc}") from exc
    if input_type == "JSON":
        try:
            items = json.loads(body)
        except ValueError as exc:
            raise MapRunFailedError(READER_ERROR, f"the object is not valid JSON: {exc}") from exc
        if not isinstance(items, list):
            raise MapRunFailedError(READER_ERROR, "Attempting to map over non-iterable node.")
    elif input_type == "JSONL":
        items = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise MapRunFailedError(READER_ERROR, f"line {number} is not valid JSON: {exc}") from exc
    else:
        items = csv_items(body, config)
    return items[:limit] if limit else items


def max_items(config: dict[str, Any], values: dict[str, Any]) -> int:
    """ReaderConfig's MaxItems, or MaxItemsPath's value (a string of digits will do), as moto's
    MaxItemsPath checks it; 0 for no bound."""
    if "MaxItemsPath" not in config:
        return min(config.get("MaxItems", 0), MAX_ITEMS)
    value = values["MaxItemsPath"]
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MapRunFailedError(
            READER_ERROR,
            f"The MaxItemsPath field refers to value '{value}' which is not a valid integer: {config['MaxItemsPath']}",
        )
    if value < 0:
        raise MapRunFailedError(READER_ERROR, "field MaxItems must be positive")
    return min(value, MAX_ITEMS)


def listed_objects(parameters: dict[str, Any], details: Any) -> list[dict[str, Any]]:
    """The objects s3:listObjectsV2 lists with PARAMETERS, as moto's ItemReader lists them (which
    s3_object_listings_are_map_items makes AWS's items)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceRuntimePart

    stack_only = SimpleNamespace(stack=[parameters])  # all of an environment the handler uses
    where = ResourceRuntimePart(account=details.account, region=details.region)
    try:
        ResourceEvalS3._handle_list_objects_v2(stack_only, where, StateCredentials(role_arn=details.role_arn))
    except Exception as exc:  # any failure to list is the reader's failure
        raise MapRunFailedError(READER_ERROR, f"{type(exc).__name__}: {exc}") from exc
    return stack_only.stack.pop()


def csv_items(body: str, config: dict[str, Any]) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(body), delimiter=config.get("CSVDelimiter", ",")))
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        headers = config.get("CSVHeaders") or []
    else:
        headers, rows = (rows[0], rows[1:]) if rows else ([], [])
    if len(set(headers)) != len(headers):
        raise MapRunFailedError(READER_ERROR, "CSV headers cannot contain duplicates.")
    # Every field a string; a missing one empty, an extra one dropped (recorded on AWS).
    return [{h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)} for row in rows if row]


class MapRunStateMachine:
    """What a child execution needs of its state machine: `<machine>/<label>` has no resource of
    its own on AWS either (ListStateMachines does not show it)."""

    def __init__(self, name: str, arn: str, definition: str, role_arn: str, logging_config: dict[str, Any]) -> None:
        from moto.stepfunctions.parser.api import StateMachineType

        self.name, self.arn, self.definition, self.role_arn = name, arn, definition, role_arn
        self.roleArn = role_arn
        self.logging_config = logging_config
        self.sm_type = StateMachineType.STANDARD
        self.revision_id = None
        self.create_date = datetime.now(UTC)


class MapRunChildren:
    """The child executions of a backend's Map Runs, by ARN, by Map Run, and those still running. Map
    Runs add children from their own threads while request threads list them (every callback looks into
    each running execution): a listing iterating the dictionary itself failed, "dictionary changed size
    during iteration", when a child was added meanwhile. So a listing takes a copy under the lock, and
    reads the children (their status, their environment) from the copy, outside the lock.

    The running children are kept apart because every callback (SendTask*) looks for its token among the
    running executions: listing every child ever started made each callback 0.7 ms slower per 1,000
    children (bench/state_growth.py), so a local run slowed down as it went. Likewise the Map Runs'
    records, found by ARN instead of by asking every execution."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_arn: dict[str, Any] = {}
        self._running: dict[str, Any] = {}
        self._by_map_run: dict[str, list[Any]] = {}
        self._records: dict[str, Any] = {}
        self._running_map_runs: dict[str, MapRun] = {}

    def add(self, execution: Any) -> None:
        with self._lock:
            self._by_arn[execution.exec_arn] = execution
            self._running[execution.exec_arn] = execution
            self._by_map_run.setdefault(execution.map_run_arn, []).append(execution)

    def ended(self, execution: Any) -> None:
        with self._lock:
            self._running.pop(execution.exec_arn, None)

    def get(self, execution_arn: str) -> Any:
        with self._lock:
            return self._by_arn.get(execution_arn)

    def listed(self, running_only: bool = False) -> list[Any]:
        with self._lock:
            return list((self._running if running_only else self._by_arn).values())

    def of_map_run(self, map_run_arn: str) -> list[Any]:
        with self._lock:
            return list(self._by_map_run.get(map_run_arn, ()))

    def add_record(self, record: Any) -> None:
        with self._lock:
            self._records[record.map_run_arn] = record

    def record(self, map_run_arn: str) -> Any:
        with self._lock:
            return self._records.get(map_run_arn)

    def map_run_started(self, map_run: MapRun) -> None:
        with self._lock:
            self._running_map_runs[map_run.record.map_run_arn] = map_run

    def map_run_ended(self, map_run: MapRun) -> None:
        with self._lock:
            self._running_map_runs.pop(map_run.record.map_run_arn, None)

    def running_map_run(self, map_run_arn: str) -> MapRun | None:
        """The Map Run still starting children, for UpdateMapRun."""
        with self._lock:
            return self._running_map_runs.get(map_run_arn)


_CHILDREN_MADE = threading.Lock()  # two Map Runs starting their first children at once make one registry


def registry_of(env: Any) -> MapRunChildren:
    """The children registry of the backend ENV's execution belongs to."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    details = env.aws_execution_details
    return children_of(stepfunctions_parser_backends[details.account][details.region])


def children_of(backend: Any) -> MapRunChildren:
    """The child executions of every Map Run of BACKEND."""
    with _CHILDREN_MADE:
        children = getattr(backend, "_map_run_children", None)
        if children is None:
            children = backend._map_run_children = MapRunChildren()
    return children


@patch(
    service="stepfunctions",
    defect="a Distributed Map runs its items as frames inside the parent: no child executions, no batches "
    "(ItemBatcher), no JSON Lines, tolerated-failure thresholds never enforced, ResultWriter writes an empty "
    "manifest only",
    aws="each item or batch runs as a child execution of its own; a failed child's items count against "
    "ToleratedFailureCount/Percentage, past which the Map fails with States.ExceedToleratedFailureThreshold; "
    "ResultWriter writes manifest.json and the SUCCEEDED/FAILED/PENDING result files; ReaderConfig.MaxItems(Path) "
    "bounds the items read (a negative one: States.ItemReaderFailed); ItemSelector, or Parameters, makes each "
    "item's input before batching",
    reference=f"{GUIDE}/state-map-distributed.html, {GUIDE}/input-output-itembatcher.html, "
    f"{GUIDE}/input-output-resultwriter.html, {GUIDE}/input-output-itemreader.html, "
    f"{GUIDE}/input-output-itemselector.html; recorded: {RECORDED}",
    seen_in=MOTO,
)
def distributed_map_runs_children_as_executions(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    evaluate = StateMap._eval_execution

    def eval_execution(self: StateMap, env: Any) -> None:
        spec = getattr(self, "_distributed_spec", None)
        if spec is None:
            return evaluate(self, env)
        MapRun(self, spec, env).run()

    get_executions = StepFunctionsParserBackend._get_executions

    def executions_with_children(self: StepFunctionsParserBackend, execution_status: Any = None) -> list[Any]:
        # As for the others (callbacks_skip_executions_still_starting): a child still starting, or one
        # whose start failed in the emulator, has no environment for callbacks to look into.
        running_only = str(getattr(execution_status, "value", execution_status)) == "RUNNING"
        children = [
            e
            for e in children_of(self).listed(running_only)
            if has_started(e) and (execution_status is None or e.status == execution_status)
        ]
        return get_executions(self, execution_status) + children

    describe = StepFunctionsParserBackend.describe_execution

    def describe_execution(self: StepFunctionsParserBackend, execution_arn: str) -> Any:
        child = children_of(self).get(execution_arn)
        return child if child is not None else describe(self, execution_arn)

    # moto finds a Map Run's record by asking every execution, children included, for it.
    describe_run, update_run = StepFunctionsParserBackend.describe_map_run, StepFunctionsParserBackend.update_map_run

    def describe_map_run(self: StepFunctionsParserBackend, map_run_arn: str) -> dict[str, Any]:
        record = children_of(self).record(map_run_arn)
        return record.describe() if record is not None else describe_run(self, map_run_arn)

    def update_map_run(self: StepFunctionsParserBackend, map_run_arn: str, *args: Any, **kwargs: Any) -> None:
        record = children_of(self).record(map_run_arn)
        if record is None:
            return update_run(self, map_run_arn, *args, **kwargs)
        names = ("max_concurrency", "tolerated_failure_count", "tolerated_failure_percentage")
        record.update(**dict(zip(names, args, strict=False)), **kwargs)

    patcher.replace(StateMap, "_eval_execution", eval_execution)
    patcher.replace(StepFunctionsParserBackend, "describe_map_run", describe_map_run)
    patcher.replace(StepFunctionsParserBackend, "update_map_run", update_map_run)
    patcher.replace(StepFunctionsParserBackend, "_get_executions", executions_with_children)
    patcher.replace(StepFunctionsParserBackend, "describe_execution", describe_execution)


@patch(
    service="stepfunctions",
    defect="UpdateMapRun changes only the Map Run's record (what DescribeMapRun shows): the running Map Run "
    "keeps starting children within the MaxConcurrency, and failing past the tolerated failures, it read as it "
    "started; an ended Map Run, or a value out of range, is updated all the same",
    aws="UpdateMapRun updates an in-progress Map Run: its maxConcurrency (0: no bound) bounds the children "
    "started from then on, its toleratedFailureCount/Percentage decide whether the failures so far and to come "
    "fail it; maxConcurrency and toleratedFailureCount are at least 0, toleratedFailurePercentage 0 to 100 "
    "(ValidationException); a Map Run that has ended is not updated (ValidationException, reason "
    "CANNOT_UPDATE_COMPLETED_MAP_RUN; the emulator's wording)",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_UpdateMapRun.html; the "
    "service model's ValidationExceptionReason: https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/sfn/"
    "aws.sdk.kotlin.services.sfn.model/-validation-exception-reason/-cannot-update-completed-map-run",
    seen_in=MOTO,
)
def map_run_updates_reach_the_running_map_run(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.api import MapRunStatus, ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    update_record = StepFunctionsParserBackend.update_map_run

    def update_map_run(
        self: StepFunctionsParserBackend,
        map_run_arn: str,
        max_concurrency: int | None = None,
        tolerated_failure_count: int | None = None,
        tolerated_failure_percentage: float | None = None,
    ) -> None:
        problem = update_problem(max_concurrency, tolerated_failure_count, tolerated_failure_percentage)
        if problem:
            raise ValidationException(problem)
        record = children_of(self).record(map_run_arn)
        if record is not None and record.status != MapRunStatus.RUNNING:
            raise ValidationException(f"Map Run {map_run_arn} has ended: it cannot be updated")
        update_record(
            self,
            map_run_arn,
            max_concurrency,
            tolerated_failure_count=tolerated_failure_count,
            tolerated_failure_percentage=tolerated_failure_percentage,
        )
        running = children_of(self).running_map_run(map_run_arn)
        if running is not None:
            running.update(max_concurrency, tolerated_failure_count, tolerated_failure_percentage)

    patcher.replace(StepFunctionsParserBackend, "update_map_run", update_map_run)


def update_problem(max_concurrency: Any, count: Any, percentage: Any) -> str | None:
    """UpdateMapRun's values out of their ranges, in AWS's words for a request's constraints."""
    bounds = (
        ("maxConcurrency", max_concurrency, 0, None),
        ("toleratedFailureCount", count, 0, None),
        ("toleratedFailurePercentage", percentage, 0, 100),
    )
    problems = [
        f"Value '{value}' at '{name}' failed to satisfy constraint: Member must have value "
        + (f"greater than or equal to {low}" if value < low else f"less than or equal to {high}")
        for name, value, low, high in bounds
        if value is not None and (value < low or (high is not None and value > high))
    ]
    if not problems:
        return None
    return f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: " + "; ".join(problems)


@patch(
    service="stepfunctions",
    defect="ListExecutions requires a stateMachineArn (mapRunArn is ignored) and DescribeExecution has no "
    "mapRunArn: a Map Run's children cannot be listed or traced to it",
    aws="ListExecutions(mapRunArn) lists the children a Map Run started, each with its mapRunArn; "
    "DescribeExecution of a child gives its mapRunArn",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html, "
    "API_DescribeExecution.html",
    seen_in=MOTO,
)
def map_run_children_are_listed(patcher: Patcher, emulator: Any) -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    list_executions = StepFunctionResponse.list_executions
    describe_execution = StepFunctionResponse.describe_execution

    def list_with_map_runs(self: StepFunctionResponse) -> Any:
        map_run_arn = self._get_param("mapRunArn")
        if map_run_arn is None:
            return list_executions(self)
        self.stepfunction_backend.describe_map_run(map_run_arn)  # ResourceNotFound for an unknown run
        status = self._get_param("statusFilter")
        children = [
            e
            for e in children_of(self.stepfunction_backend).of_map_run(map_run_arn)
            if status is None or e.status == status
        ]
        children.sort(key=lambda e: e.start_date, reverse=True)
        start = int(self._get_param("nextToken") or 0)
        size = self._get_int_param("maxResults") or 100
        page = children[start : start + size]
        executions = []
        for execution in page:
            item = {
                "executionArn": execution.exec_arn,
                "name": execution.name,
                "startDate": execution.start_date,
                "stateMachineArn": execution.state_machine.arn,
                "status": execution.status,
                "mapRunArn": map_run_arn,
                "itemCount": len(execution.input_data.get("Items", [None]))
                if isinstance(execution.input_data, dict)
                else 1,
            }
            if execution.stop_date:
                item["stopDate"] = execution.stop_date
            executions.append(item)
        more = start + size < len(children)
        return ActionResult({"executions": executions, **({"nextToken": str(start + size)} if more else {})})

    def describe_with_map_run(self: StepFunctionResponse) -> Any:
        result = describe_execution(self)
        execution = children_of(self.stepfunction_backend).get(self._get_param("executionArn"))
        if execution is not None and isinstance(result.result, dict):
            result.result["mapRunArn"] = execution.map_run_arn
        return result

    patcher.replace(StepFunctionResponse, "list_executions", list_with_map_runs)
    patcher.replace(StepFunctionResponse, "describe_execution", describe_with_map_run)


@patch(
    service="stepfunctions",
    defect="an ItemReader over s3:listObjectsV2 reads one page (at most 1,000 objects), fails on an empty prefix, "
    "and gives boto3's objects (ETag, LastModified a datetime): the Map's result cannot be serialised "
    "(DescribeExecution answers HTTP 500)",
    aws="every object under the prefix, page after page, each item {Etag, Key, LastModified (epoch seconds), Size, "
    "StorageClass}",
    reference=f"{GUIDE}/input-output-itemreader.html (S3 objects in a bucket: listObjectsV2, Bucket and Prefix)",
    seen_in=MOTO,
)
def s3_object_listings_are_map_items(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )

    def handle_list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        parameters = env.stack.pop()
        items = [
            {
                "Etag": listed["ETag"],
                "Key": listed["Key"],
                "LastModified": int(listed["LastModified"].timestamp()),
                "Size": listed["Size"],
                "StorageClass": listed.get("StorageClass", "STANDARD"),
            }
            for page in s3.get_paginator("list_objects_v2").paginate(**parameters)
            for listed in page.get("Contents", [])
        ]
        env.stack.append(items)

    patcher.replace(ResourceEvalS3, "_handle_list_objects_v2", staticmethod(handle_list_objects_v2))
