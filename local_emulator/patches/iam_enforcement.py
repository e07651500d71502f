"""IAM enforcement: each request is authenticated and authorized as AWS does it, unless the emulator is
told not to (`Emulator(enforce_iam=False)`, or LOCAL_EMULATOR_ENFORCE_IAM=0: a local run then less strict
than AWS, where every role may do anything).

The switch is moto's own, `moto.settings.INITIAL_NO_AUTH_ACTION_COUNT` (0: every request is checked),
so that `POST /moto-api/reset-auth` turns it on and off in the emulator as in stock moto. What stock
moto does once it is on (moto/core/authorization.py, moto/iam/access_control.py) is replaced:

- who calls: the access keys the emulator and its tools sign with (`local`; the tests' `testing`) are the
  account's root user, as the person deploying a stack is its administrator; an IAM user's key and an
  assumed-role session's (`sts:AssumeRole` over HTTP, or `sts_backends[...].assume_role` in process, as
  the Lambda and Batch runtimes and the Step Functions engine get their roles': role_sessions.py,
  role_credentials.py) are those identities; any other key is refused;
- what the request does: the IAM action(s) AWS authorizes for it, on the resources' ARNs, with the
  condition context (aws:SecureTransport is true: SDKs reach AWS over HTTPS);
- the decision: AWS's evaluation logic over the identity's policies (inline, attached managed, a
  permissions boundary, a session policy) and the resource's policy (S3 bucket, SQS queue, Lambda
  function; a role's trust policy for sts:AssumeRole), with same-account union;
- the refusal: as each service's protocol returns it.

Each piece is a patch of its own, hooked in through `_Hooks` and `_RESOURCE_POLICIES`: without its
patch, a hook does what stock moto does, so that each probe tells one behaviour.
"""

import base64
import contextlib
import datetime
import hmac
import ipaddress
import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from local_emulator.patches.cloudformation import RESOURCE_REFERENCE, _add_resource_types, _AddedResource
from local_emulator.patches.registry import Patcher, patch

MOTO = "5.2.5"
IAM_GUIDE = "https://docs.aws.amazon.com/IAM/latest/UserGuide"
ENFORCE_IAM_VARIABLE = "LOCAL_EMULATOR_ENFORCE_IAM"
# The access keys of the account's root user: the emulator's own (server.ENVIRONMENT, the deploy, the
# CLI) and the tests'. Their secret is whatever the caller signs with. (Functions, jobs and state
# machines call with sessions of their roles.)
ROOT_ACCESS_KEYS = frozenset({"local", "testing"})


def requested(explicit: bool | None = None) -> bool:
    """Whether an emulator enforces IAM: as asked, else unless LOCAL_EMULATOR_ENFORCE_IAM says not to."""
    if explicit is not None:
        return explicit
    return os.environ.get(ENFORCE_IAM_VARIABLE, "").strip().lower() not in ("0", "false", "no", "off")


def enforcing() -> bool:
    """Whether requests are checked now (moto's switch, as moto reads it)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


# == the policy language ======================================================================
NO_MATCH, DELEGATED, NAMED = 0, 1, 2  # how a resource policy's Principal names a caller
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _glob(text: str, any_char: str) -> str:
    return "".join(f"{any_char}*" if c == "*" else any_char if c == "?" else re.escape(c) for c in text)


def _compile_glob(pattern: str, arn: bool) -> re.Pattern[str]:
    """PATTERN's `*` and `?` as wildcards, everything else literal. For an ARN, a wildcard in one of
    the first five segments stays within it; the resource part's may span colons."""
    if arn and pattern.count(":") >= 5:
        segments = pattern.split(":", 5)
        return re.compile(":".join([*(_glob(s, "[^:]") for s in segments[:5]), _glob(segments[5], ".")]), re.S)
    return re.compile(_glob(pattern, "."), re.S)


_globs: dict[tuple[str, bool], re.Pattern[str]] = {}


def _glob_matches(pattern: str, value: str, arn: bool = False) -> bool:
    compiled = _globs.get((pattern, arn))
    if compiled is None:
        compiled = _globs[(pattern, arn)] = _compile_glob(pattern, arn)
    return compiled.fullmatch(value) is not None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resolve(text: str, context: "Context") -> str | None:
    """TEXT with its policy variables replaced from CONTEXT; None when one has no value."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        name, _, default = match.group(1).partition(",")
        name = name.strip()
        if name in ("*", "?", "$"):
            return name
        found = context.get(name.lower())
        if isinstance(found, list):
            found = found[0] if len(found) == 1 else None
        if found is None:
            default = default.strip()
            if len(default) >= 2 and default[0] == default[-1] == "'":
                return default[1:-1]
            missing = True
            return ""
        return found

    resolved = _VARIABLE.sub(value, text)
    return None if missing else resolved


class _Globs:
    """An Action, NotAction, Resource or NotResource element: exact values and wildcard patterns."""

    __slots__ = ("arn", "everything", "exact", "patterns", "variables")

    def __init__(self, values: Any, *, lower: bool, arn: bool, versioned: bool) -> None:
        self.everything, self.arn = False, arn
        self.exact: set[str] = set()
        self.patterns: list[re.Pattern[str]] = []
        self.variables: list[str] = []
        for raw in _listed(values):
            value = _text(raw).lower() if lower else _text(raw)
            if versioned and "${" in value:
                self.variables.append(value)
            elif value == "*":
                self.everything = True
            elif "*" in value or "?" in value:
                self.patterns.append(_compile_glob(value, arn))
            else:
                self.exact.add(value)

    def matches(self, value: str, context: "Context") -> bool:
        if self.everything or value in self.exact or any(p.fullmatch(value) for p in self.patterns):
            return True
        for template in self.variables:
            # A variable's value is literal: its own * and ? are no wildcards (${*} is a literal *).
            pieces, position, complete = [], 0, True
            for match in _VARIABLE.finditer(template):
                pieces.append(_glob(template[position : match.start()], "."))
                resolved = _resolve(match.group(0), context)
                if resolved is None:
                    complete = False
                    break
                pieces.append(re.escape(resolved))
                position = match.end()
            if complete:
                pieces.append(_glob(template[position:], "."))
                if re.fullmatch("".join(pieces), value, re.S):
                    return True
        return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    try:
        return float(text)  # epoch seconds
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _compared(parse: Callable[[str], float | None], test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(actual: str, expected: str) -> bool:
        a, e = parse(actual), parse(expected)
        return a is not None and e is not None and test(a, e)

    return match


def _ip_matches(actual: str, expected: str) -> bool:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return False


def _binary_matches(actual: str, expected: str) -> bool:
    try:
        return base64.b64decode(actual) == base64.b64decode(expected)
    except ValueError:
        return False


_EQUAL, _LESS, _LESS_EQUAL = (lambda a, e: a == e), (lambda a, e: a < e), (lambda a, e: a <= e)
_GREATER, _GREATER_EQUAL = (lambda a, e: a > e), (lambda a, e: a >= e)
# Each operator (lower case) as (negated, how one context value matches one policy value): a negated
# operator holds when the value matches none of the policy's values.
_OPERATORS: dict[str, tuple[bool, Callable[[str, str], bool]]] = {
    "stringequals": (False, lambda a, e: a == e),
    "stringnotequals": (True, lambda a, e: a == e),
    "stringequalsignorecase": (False, lambda a, e: a.lower() == e.lower()),
    "stringnotequalsignorecase": (True, lambda a, e: a.lower() == e.lower()),
    "stringlike": (False, lambda a, e: _glob_matches(e, a)),
    "stringnotlike": (True, lambda a, e: _glob_matches(e, a)),
    "numericequals": (False, _compared(_number, _EQUAL)),
    "numericnotequals": (True, _compared(_number, _EQUAL)),
    "numericlessthan": (False, _compared(_number, _LESS)),
    "numericlessthanequals": (False, _compared(_number, _LESS_EQUAL)),
    "numericgreaterthan": (False, _compared(_number, _GREATER)),
    "numericgreaterthanequals": (False, _compared(_number, _GREATER_EQUAL)),
    "dateequals": (False, _compared(_date, _EQUAL)),
    "datenotequals": (True, _compared(_date, _EQUAL)),
    "datelessthan": (False, _compared(_date, _LESS)),
    "datelessthanequals": (False, _compared(_date, _LESS_EQUAL)),
    "dategreaterthan": (False, _compared(_date, _GREATER)),
    "dategreaterthanequals": (False, _compared(_date, _GREATER_EQUAL)),
    "bool": (False, lambda a, e: a.lower() == e.lower()),
    "binaryequals": (False, _binary_matches),
    "ipaddress": (False, _ip_matches),
    "notipaddress": (True, _ip_matches),
    "arnequals": (False, lambda a, e: _glob_matches(e, a, arn=True)),
    "arnlike": (False, lambda a, e: _glob_matches(e, a, arn=True)),
    "arnnotequals": (True, lambda a, e: _glob_matches(e, a, arn=True)),
    "arnnotlike": (True, lambda a, e: _glob_matches(e, a, arn=True)),
}


def _never(actual: str, expected: str) -> bool:
    return False


class _Condition:
    """One key of one operator of a Condition element."""

    __slots__ = ("if_exists", "key", "match", "negated", "null", "qualifier", "values", "variables")

    def __init__(self, operator: str, key: str, values: Any, versioned: bool) -> None:
        name = operator.lower()
        self.qualifier = None
        for prefix, qualifier in (("foranyvalue:", "any"), ("forallvalues:", "all")):
            if name.startswith(prefix):
                name, self.qualifier = name[len(prefix) :], qualifier
        self.if_exists = name.endswith("ifexists") and name != "ifexists"
        if self.if_exists:
            name = name[: -len("ifexists")]
        self.null = name == "null"
        # An operator AWS does not know holds for nothing (AWS refuses such a policy when it is put).
        self.negated, self.match = _OPERATORS.get(name, (False, _never))
        self.key = key.lower()
        self.values = tuple(_text(v) for v in _listed(values))
        self.variables = versioned and any("${" in v for v in self.values)

    def holds(self, context: "Context") -> bool:
        actual = context.get(self.key)
        values: Iterable[str] = self.values
        if self.variables:
            values = [v for v in (_resolve(value, context) for value in self.values) if v is not None]
        if self.null:
            present = actual is not None and actual != []
            return any((value.lower() == "true") != present for value in values)
        if actual is None:
            # An absent key: the condition does not hold, but for IfExists, ForAllValues and the
            # negated operators (AWS: "If the key ... is not present ... the condition is false";
            # a negated operator's is true).
            if self.if_exists or self.qualifier == "all":
                return True
            return False if self.qualifier == "any" else self.negated
        actuals = actual if isinstance(actual, list) else [actual]
        match = self.match
        if self.qualifier is None:
            found = any(match(a, v) for a in actuals for v in values)
            return not found if self.negated else found
        each = (any(match(a, v) for v in values) != self.negated for a in actuals)
        return all(each) if self.qualifier == "all" else any(each)


class _Principals:
    """A resource policy's Principal or NotPrincipal element."""

    __slots__ = ("arns", "everyone", "services")

    def __init__(self, element: Any) -> None:
        self.everyone, self.arns, self.services = False, set(), set()
        if element == "*":
            self.everyone = True
            return
        if not isinstance(element, dict):
            element = {"AWS": element}  # a bare account or ARN, as moto's Lambda AddPermission stores it
        for kind, values in element.items():
            for value in _listed(values):
                value = _text(value)
                if kind == "AWS":
                    if value == "*":
                        self.everyone = True
                    elif value.isdigit():
                        self.arns.add(f"arn:aws:iam::{value}:root")
                    else:
                        self.arns.add(value)
                elif kind == "Service":
                    self.services.add(value)

    def naming(self, principal: "Principal") -> int:
        if self.everyone:
            return NAMED
        if principal.kind == "service":
            return NAMED if principal.arn in self.services else NO_MATCH
        if principal.kind == "anonymous":
            return NO_MATCH
        if not self.arns.isdisjoint(principal.arns):
            return NAMED
        return DELEGATED if principal.account_root in self.arns else NO_MATCH


class _Statement:
    __slots__ = ("actions", "allow", "not_action", "not_principal", "not_resource", "principals", "resources")
    __slots__ += ("conditions",)

    def __init__(self, raw: dict[str, Any], versioned: bool) -> None:
        self.allow = raw.get("Effect") == "Allow"
        self.not_action = "NotAction" in raw
        element = raw.get("NotAction" if self.not_action else "Action", [])
        self.actions = _Globs(element, lower=True, arn=False, versioned=False)
        self.not_resource = "NotResource" in raw
        element = raw.get("NotResource" if self.not_resource else "Resource")
        # No Resource element: a role's trust policy, which is about the role itself.
        self.resources = None if element is None else _Globs(element, lower=False, arn=True, versioned=versioned)
        self.not_principal = "NotPrincipal" in raw
        element = raw.get("NotPrincipal" if self.not_principal else "Principal")
        self.principals = None if element is None else _Principals(element)
        self.conditions = [
            _Condition(operator, key, values, versioned)
            for operator, block in (raw.get("Condition") or {}).items()
            if isinstance(block, dict)
            for key, values in block.items()
        ]

    def applies(self, check: "Check", context: "Context") -> bool:
        if self.actions.matches(check.action_l, context) == self.not_action:
            return False
        if self.resources is not None and self.resources.matches(check.resource, context) == self.not_resource:
            return False
        return all(condition.holds(context) for condition in self.conditions)

    def naming(self, principal: "Principal") -> int:
        if self.principals is None:
            return NO_MATCH
        named = self.principals.naming(principal)
        if self.not_principal:  # everyone but the principals it names exactly
            return NO_MATCH if named == NAMED else NAMED
        return named


class Policy:
    """A policy document, compiled once (see `policy_of`)."""

    __slots__ = ("statements",)

    def __init__(self, document: Any) -> None:
        statements = document.get("Statement", []) if isinstance(document, dict) else []
        versioned = isinstance(document, dict) and document.get("Version") == "2012-10-17"
        self.statements = [_Statement(s, versioned) for s in _listed(statements) if isinstance(s, dict)]

    def evaluate(self, check: "Check", context: "Context", principal: "Principal | None") -> tuple[bool, bool, bool]:
        """(explicitly denied, allowed, allowed to the caller's account only) for CHECK; PRINCIPAL is
        the caller for a resource policy, whose statements apply to whom they name; None for an
        identity's own policies."""
        named = delegated = False
        for statement in self.statements:
            if not statement.applies(check, context):
                continue
            naming = NAMED if principal is None else statement.naming(principal)
            if naming == NO_MATCH:
                continue
            if not statement.allow:
                return True, False, False
            if naming == NAMED:
                named = True
            else:
                delegated = True
        return False, named, delegated

    def allowing(self, check: "Check", context: "Context", principal: "Principal | None") -> list[int]:
        """The indexes of the Allow statements that apply to CHECK (for the journal)."""
        return [
            index
            for index, statement in enumerate(self.statements)
            if statement.allow
            and statement.applies(check, context)
            and (principal is None or statement.naming(principal) != NO_MATCH)
        ]


_by_text: dict[Any, Policy] = {}
_by_identity: dict[int, tuple[Any, Policy]] = {}
_EMPTY = Policy({})


def policy_of(document: Any, key: Any = None) -> Policy:
    """DOCUMENT (JSON text, bytes, or a dict as CloudFormation stores it) compiled, once per document
    (or per KEY, for a document built afresh at each request)."""
    if key is not None:
        found = _by_text.get(key)
        if found is None:
            found = _by_text[key] = _compiled(document)
        return found
    if isinstance(document, (str, bytes)):
        found = _by_text.get(document)
        if found is None:
            found = _by_text[document] = _compiled(document)
        return found
    entry = _by_identity.get(id(document))
    if entry is None or entry[0] is not document:  # the document itself is kept: its id stays its own
        entry = _by_identity[id(document)] = (document, _compiled(document))
    return entry[1]


def _compiled(document: Any) -> Policy:
    try:
        parsed = json.loads(document) if isinstance(document, (str, bytes)) else document
        return Policy(parsed)
    except (ValueError, TypeError, AttributeError):
        return _EMPTY  # moto checks documents as they are put; what it let through allows nothing


def _managed_document(policy: Any) -> str:
    for version in getattr(policy, "versions", []):
        if version.is_default:
            return version.document
    return ""


# == who calls ================================================================================
class Credential(NamedTuple):
    access_key: str
    region: str
    service: str  # the signing name, which is the IAM prefix of the service's actions
    token: str | None
    in_header: bool  # signed in the Authorization header (else a presigned URL, not verified here)


def _credential(response: Any) -> Credential | None:
    headers = response.headers
    authorization = headers.get("Authorization")
    if authorization:
        scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
        if len(scope) >= 4:
            return Credential(scope[0], scope[2], scope[3], headers.get("X-Amz-Security-Token"), True)
        key = authorization.partition(" ")[2].partition(":")[0]  # signature version 2: AWS KEY:SIGNATURE
        return Credential(key, response.region, "", headers.get("X-Amz-Security-Token"), False)
    if "X-Amz-Credential" in response.uri:
        query = parse_qs(urlsplit(response.uri).query)
        scope = query.get("X-Amz-Credential", [""])[0].split("/")
        if len(scope) >= 4:
            return Credential(scope[0], scope[2], scope[3], query.get("X-Amz-Security-Token", [None])[0], False)
    return None


class Principal:
    """The caller: the account's root user, an IAM user, an assumed-role session, or anonymous."""

    __slots__ = ("account", "account_root", "arn", "arns", "kind", "region", "role", "secret", "user")
    __slots__ += ("session", "role_arn", "backend", "_policies", "_context", "_tags")

    def __init__(self, kind: str, arn: str, account: str, region: str, **found: Any) -> None:
        self.kind, self.arn, self.account, self.region = kind, arn, account, region
        self.account_root = f"arn:aws:iam::{account}:root"
        self.role, self.user, self.session = found.get("role"), found.get("user"), found.get("session")
        self.backend, self.secret = found.get("backend"), found.get("secret", "")
        self.role_arn = (
            self.role.arn if self.role is not None else self.session.role_arn if self.session else found.get("role_arn")
        )
        self.arns = frozenset({arn, self.role_arn} - {None})
        self._policies: list[tuple[str, Policy]] | None = None
        self._context: dict[str, Any] | None = None
        self._tags: dict[str, str] | None = None

    def policies(self) -> list[tuple[str, Policy]]:
        """The identity policies, each with where it comes from (`ROLE/inline-name`, a managed policy's
        ARN): inline and attached managed, of the user's groups too."""
        if self._policies is None:
            holders = [h for h in (self.role, self.user) if h is not None]
            if self.user is not None:
                holders += self.backend.get_groups_for_user(self.user.name)
            policies = []
            for holder in holders:
                policies += [(f"{holder.name}/{n}", policy_of(d)) for n, d in list(holder.policies.items())]
                policies += [(a, policy_of(_managed_document(p))) for a, p in list(holder.managed_policies.items())]
            self._policies = policies
        return self._policies

    def limits(self) -> list[tuple[str, Policy]]:
        """What caps the identity's permissions: its permissions boundary, its session policy."""
        found = []
        holder = self.role or self.user
        boundary = getattr(holder, "permissions_boundary_arn", None)
        if boundary:
            try:
                found.append(("permissions boundary", policy_of(_managed_document(self.backend.get_policy(boundary)))))
            except Exception:
                found.append(("permissions boundary", _EMPTY))
        if self.session is not None and self.session.policy:
            found.append(("session policy", policy_of(self.session.policy)))
        return found

    def context(self) -> dict[str, Any]:
        if self._context is None:
            now = datetime.datetime.now(datetime.UTC)
            context = {
                "aws:securetransport": "true",
                "aws:principalaccount": self.account,
                "aws:requestedregion": self.region,
                "aws:currenttime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "aws:epochtime": str(int(now.timestamp())),
            }
            if self.kind == "root":
                context |= {"aws:principalarn": self.arn, "aws:principaltype": "Account", "aws:userid": self.account}
            elif self.kind == "user":
                context |= {
                    "aws:principalarn": self.arn,
                    "aws:principaltype": "User",
                    "aws:userid": self.user.id,
                    "aws:username": self.user.name,
                }
            elif self.kind == "role":
                role_id = self.role.id if self.role is not None else "AROA"
                context |= {
                    "aws:principalarn": self.role_arn,
                    "aws:principaltype": "AssumedRole",
                    "aws:userid": f"{role_id}:{self.arn.rsplit('/', 1)[-1]}",
                }
            self._context = context
        return self._context

    def tags(self) -> dict[str, str]:
        if self._tags is None:
            self._tags = _lowered_tags(getattr(self.role or self.user, "tags", None))
        return self._tags


def _lowered_tags(tags: Any) -> dict[str, str]:
    """Tags in any of moto's shapes, by lower-case key (condition keys are not case-sensitive)."""
    if not tags:
        return {}
    if isinstance(tags, dict):
        items = tags.get("Tags", tags.get("tags")) if set(tags) <= {"Tags", "tags"} else tags
        if isinstance(items, dict):
            return {
                str(k).lower(): (v.get("Value", v.get("value")) if isinstance(v, dict) else str(v))
                for k, v in items.items()
            }
        tags = items or []
    found = {}
    for tag in tags:
        if isinstance(tag, dict):
            key, value = tag.get("Key", tag.get("key")), tag.get("Value", tag.get("value"))
            if key is not None:
                found[str(key).lower()] = "" if value is None else str(value)
    return found


_sessions: dict[int, tuple[Any, list[Any], dict[str, Any]]] = {}


def _session_of(account: str, partition: str, access_key: str) -> Any:
    """The assumed-role session holding ACCESS_KEY (the backend's list only grows: what was appended since
    the last look is indexed; a reset of moto's state makes a new list)."""
    from moto.sts.models import sts_backends

    backend = sts_backends[account][partition]
    sessions = backend.assumed_roles
    cached = _sessions.get(id(backend))
    if cached is None or cached[0] is not backend or cached[1] is not sessions:
        cached = _sessions[id(backend)] = (backend, sessions, {})
    index = cached[2]
    if len(index) < len(sessions):
        index.update((s.access_key_id, s) for s in sessions[len(index) :])
    return index.get(access_key)


def _role_of(backend: Any, arn: str) -> Any:
    for role in list(backend.roles.values()):
        if role.arn == arn:
            return role
    return None


class _Hooks:
    """What each patch changes; as they are here, stock moto's behaviour."""

    root_access_keys: frozenset[str] = frozenset()
    sessions_expire = False

    @staticmethod
    def describe(response: Any, prefix: str, moto_resource: str, s3_target: tuple[str | None, str | None] | None):
        """The checks of a request, as stock moto makes them: its action name, its resource or `*`."""
        if s3_target is not None:
            bucket, key = s3_target
            arn = f"{bucket or '*'}/{key}" if key else (bucket or "*")
            return [Check(f"s3:{response._get_action()}", f"arn:aws:s3:::{arn}")]
        return [Check(f"{prefix}:{response._get_action()}", moto_resource)]

    @staticmethod
    def shape(response: Any, refusal: "RequestRefusedError") -> tuple[int, dict[str, str], str]:
        """The response to a refused request, as stock moto gives it: IAM's XML for every service."""
        from moto.core.exceptions import AccessDeniedError, InvalidClientTokenIdError, SignatureDoesNotMatchError

        if refusal.kind == "denied":
            error: Any = AccessDeniedError(user_arn=refusal.principal.arn, action=refusal.action)
        elif refusal.kind == "signature":
            error = SignatureDoesNotMatchError()
        else:
            error = InvalidClientTokenIdError()
        return error.code, {"Content-Type": "text/xml"}, error.description

    @staticmethod
    def signed_body(response: Any) -> Any:
        return response.raw_body or response.data  # moto signs its parsed parameters when there is no body


# Per IAM prefix: the resource policies that govern a check (none in stock moto, which evaluates a
# bucket's policy only for anonymous object requests, see s3_bucket_policies_are_evaluated_as_aws_does).
_RESOURCE_POLICIES: dict[str, Callable[[Any, "Check", "Principal"], list[Policy]]] = {}


class RequestRefusedError(Exception):
    """A request AWS would not serve: KIND is denied, invalid (key), token, signature, expired or missing."""

    def __init__(
        self, kind: str, principal: "Principal | None" = None, action: str = "", resource: str = "", reason: str = ""
    ) -> None:
        super().__init__(kind)
        self.kind, self.principal, self.action, self.resource, self.reason = kind, principal, action, resource, reason

    def message(self) -> str:
        if self.kind != "denied":
            return _MESSAGES[self.kind]
        text = f"User: {self.principal.arn} is not authorized to perform: {self.action} on resource: {self.resource}"
        return f"{text} {self.reason}" if self.reason else text


_MESSAGES = {
    "invalid": "The security token included in the request is invalid.",
    "token": "The security token included in the request is invalid.",
    "signature": "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details.",
    "expired": "The security token included in the request is expired",
    "missing": "Missing Authentication Token",
}


def _identify(response: Any, credential: Credential) -> Principal:
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    account, region = response.current_account, credential.region
    if credential.access_key in _Hooks.root_access_keys:
        return Principal("root", f"arn:aws:iam::{account}:root", account, region)
    partition = get_partition(region)
    backend = iam_backends[account][partition]
    key = backend.access_keys.get(credential.access_key)
    if key is None or key.status != "Active":
        raise RequestRefusedError("invalid")
    if key.role_arn is not None:  # a session's temporary key
        session = _session_of(account, partition, credential.access_key)
        if session is None:
            raise RequestRefusedError("invalid")
        if credential.token != session.session_token:
            raise RequestRefusedError("token")
        if _Hooks.sessions_expire and session.expiration < utcnow():
            raise RequestRefusedError("expired")
        role = _role_of(backend, session.role_arn)
        return Principal(
            "role", session.arn, account, region, role=role, session=session, backend=backend,
            secret=session.secret_access_key,
        )  # fmt: skip
    if credential.token is not None:
        raise RequestRefusedError("token")
    user = backend.users.get(key.user_name)
    if user is None:
        raise RequestRefusedError("invalid")
    return Principal("user", user.arn, account, region, user=user, backend=backend, secret=key.secret_access_key)


def _verify_signature(response: Any, credential: Credential, principal: Principal, s3: bool) -> None:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    authorization = response.headers["Authorization"]
    given = authorization.partition("Signature=")[2].partition(",")[0]
    signed = set(authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";"))
    headers = {name: value for name, value in response.headers.items() if name.lower() in signed}
    query = urlsplit(response.uri).query
    request = AWSRequest(
        method=response.method,
        url=response.raw_path + (f"?{query}" if query else ""),
        data=_Hooks.signed_body(response),
        headers=headers,
    )
    request.context["timestamp"] = response.headers.get("X-Amz-Date", "")
    signer = (S3SigV4Auth if s3 else SigV4Auth)(
        Credentials(credential.access_key, principal.secret, credential.token), credential.service, credential.region
    )
    try:
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    except (KeyError, ValueError, TypeError):
        expected = ""
    if not hmac.compare_digest(expected, given):
        raise RequestRefusedError("signature")


# == what a request does =======================================================================
class Check:
    """One action on one resource that a request needs, with the request's condition context."""

    __slots__ = ("_tags", "action", "action_l", "context", "resource", "tags_of")

    def __init__(
        self,
        action: str,
        resource: str,
        context: dict[str, Any] | None = None,
        tags_of: Callable[[], Any] | None = None,
    ) -> None:
        self.action, self.action_l, self.resource = action, action.lower(), resource
        self.context = context or {}
        self.tags_of, self._tags = tags_of, None

    def resource_tags(self) -> dict[str, str]:
        if self._tags is None:
            try:
                self._tags = _lowered_tags(self.tags_of()) if self.tags_of else {}
            except Exception:  # a resource that does not exist has no tags
                self._tags = {}
        return self._tags


class Context:
    """The condition keys of one check (lower-case names): the request's, then the caller's."""

    __slots__ = ("check", "principal")

    def __init__(self, check: Check, principal: Principal) -> None:
        self.check, self.principal = check, principal

    def get(self, key: str) -> Any:
        found = self.check.context.get(key)
        if found is not None:
            return found
        found = self.principal.context().get(key)
        if found is not None:
            return found
        if key.startswith("aws:resourcetag/"):
            return self.check.resource_tags().get(key[len("aws:resourcetag/") :])
        if key.startswith("aws:principaltag/"):
            return self.principal.tags().get(key[len("aws:principaltag/") :])
        return None


def _decide(response: Any, principal: Principal, check: Check) -> None:
    """Raise RequestRefusedError unless AWS's evaluation logic allows CHECK to PRINCIPAL: an explicit Deny
    anywhere refuses; else an Allow of an identity policy (within its boundary and session policy)
    or a resource policy naming the caller allows (one account: their union)."""
    try:
        _evaluate(response, principal, check)
    except RequestRefusedError:
        if journal is not None and principal.kind != "root":
            journal(principal.arn, check.action, check.resource, None)
        raise


def _evaluate(response: Any, principal: Principal, check: Check) -> None:
    context = Context(check, principal)

    def refuse(reason: str) -> RequestRefusedError:
        return RequestRefusedError("denied", principal, check.action, check.resource, reason)

    allowed = principal.kind == "root"
    if principal.kind in ("user", "role"):
        for _, policy in principal.policies():
            denied, allows, _ = policy.evaluate(check, context, None)
            if denied:
                raise refuse("with an explicit deny in an identity-based policy")
            allowed = allowed or allows
        unallowed_by = "identity-based policy"
        for label, limit in principal.limits():
            denied, allows, _ = limit.evaluate(check, context, None)
            if denied:
                raise refuse(f"with an explicit deny in a {label}")
            if allowed and not allows:
                allowed, unallowed_by = False, label
    else:  # a service, or anonymous: only a resource's policy can allow it
        unallowed_by = "resource-based policy" if principal.kind == "service" else "identity-based policy"
    lookup = _RESOURCE_POLICIES.get(check.action_l.partition(":")[0])
    named = delegated = False
    for policy in lookup(response, check, principal) if lookup else ():
        denied, by_name, by_account = policy.evaluate(check, context, principal)
        if denied:
            raise refuse("with an explicit deny in a resource-based policy")
        named, delegated = named or by_name, delegated or by_account
    if check.action_l == "sts:assumerole":
        # The role's trust policy must let the caller in: by name, or by account with the caller's
        # own permission (even the root user's).
        trust = _trust_policy(response, check.resource)
        denied, by_name, by_account = trust.evaluate(check, context, principal)
        if denied:
            raise refuse("with an explicit deny in a resource-based policy")
        if not (by_name or (by_account and allowed)):
            raise refuse("")
        return
    if not (allowed or named):
        raise refuse(f"because no {unallowed_by} allows the {check.action} action")
    if journal is not None and principal.kind != "root":
        journal(principal.arn, check.action, check.resource, _allowing(principal, check, context, response))


# Who wants to know which statements allow what (a least-privilege test) sets this: it is then called
# for each check of a user, a session or a service, with (caller ARN, action, resource, the allowing
# statements as (policy, statement index)), or None instead of the statements when the check was
# refused; a policy is `ROLE/inline-name`, a managed policy's ARN or `resource:<ARN of the resource whose
# policy it is>`.
journal: Callable[[str, str, str, list[tuple[str, int]] | None], None] | None = None


def _allowing(principal: Principal, check: Check, context: Context, response: Any) -> list[tuple[str, int]]:
    found = []
    for source, policy in principal.policies():
        found += [(source, index) for index in policy.allowing(check, context, None)]
    lookup = _RESOURCE_POLICIES.get(check.action_l.partition(":")[0])
    for policy in lookup(response, check, principal) if lookup else ():
        found += [(f"resource:{check.resource}", index) for index in policy.allowing(check, context, principal)]
    return found


class _Place:
    """What a check reads of a request, for a check made without one."""

    def __init__(self, account: str, region: str) -> None:
        from moto.utilities.utils import get_partition

        self.current_account, self.region, self.partition = account, region, get_partition(region)


def authorize_role(
    role_arn: str,
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
    session_name: str = "emulator",
    region: str = "us-east-1",
) -> None:
    """Raise RequestRefusedError (its `message()` as AWS words it) unless a session of ROLE_ARN may do
    ACTION on RESOURCE, with condition keys CONTEXT (name: value), resource policies included: for
    what the emulator does on a role's behalf without an HTTP request (a rule's target invoked, a
    Distributed Map's items read). Nothing is checked unless IAM is enforced."""
    from moto.iam.models import iam_backends

    if not enforcing():
        return
    place = _Place(role_arn.split(":")[4], region)
    backend = iam_backends[place.current_account][place.partition]
    session_arn = f"arn:aws:sts::{place.current_account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session_name}"
    principal = Principal(
        "role", session_arn, place.current_account, region, role=_role_of(backend, role_arn), role_arn=role_arn,
        backend=backend,
    )  # fmt: skip
    _decide(place, principal, Check(action, resource, {k.lower(): v for k, v in (context or {}).items()}))


def authorize_service(
    service: str,
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
    region: str = "us-east-1",
) -> None:
    """Raise RequestRefusedError unless the resource's policy lets SERVICE (a service principal, such as
    events.amazonaws.com) do ACTION on RESOURCE, with condition keys CONTEXT (aws:SourceArn,
    aws:SourceAccount): for what a service does as itself (a rule delivering to a queue or invoking a
    function). Nothing is checked unless IAM is enforced."""
    if not enforcing():
        return
    from moto.core import DEFAULT_ACCOUNT_ID

    account = resource.split(":")[4] if resource.count(":") >= 5 and resource.split(":")[4] else DEFAULT_ACCOUNT_ID
    principal = Principal("service", service, account, region)
    _decide(
        _Place(account, region), principal, Check(action, resource, {k.lower(): v for k, v in (context or {}).items()})
    )


def _trust_policy(response: Any, role_arn: str) -> Policy:
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else response.current_account
    role = _role_of(iam_backends[account][response.partition], role_arn)
    return policy_of(role.assume_role_policy_document) if role is not None else _EMPTY


def _authorize(response: Any, moto_resource: str, s3_target: tuple[str | None, str | None] | None) -> None:
    credential = _credential(response)
    if credential is None:
        if s3_target is None:
            if response._get_action() == "ProcessCfnResponse":
                return  # a custom resource's response: AWS's is to a presigned URL, which is its authority
            raise RequestRefusedError("missing")
        principal = Principal("anonymous", "anonymous", response.current_account, response.region)
        prefix = "s3"
    else:
        principal = _identify(response, credential)
        if principal.kind != "root" and credential.in_header:
            _verify_signature(response, credential, principal, s3_target is not None)
        prefix = credential.service or ("s3" if s3_target is not None else response.service_name)
    response._iam_region = credential.region if credential is not None and credential.region else response.region
    if s3_target is not None:
        response._iam_principal = principal
    if principal.kind == "root" and prefix not in _RESOURCE_POLICIES and prefix != "sts":
        return  # the root user: allowed everything but a resource policy's explicit Deny
    for check in _Hooks.describe(response, prefix, moto_resource, s3_target):
        if check.action_l != "sts:getcalleridentity":  # AWS answers it whatever the policies say
            _decide(response, principal, check)


def _authorize_normal(self: Any, resource: str = "*") -> None:
    """ActionAuthenticatorMixin._authenticate_and_authorize_normal_action, moto's switch unchanged."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    _authorize(self, resource, None)


def _authorize_s3(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    """ActionAuthenticatorMixin._authenticate_and_authorize_s3_action: S3's own errors."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.s3 import exceptions

    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    try:
        _authorize(self, "*", (bucket_name, key_name))
    except RequestRefusedError as refusal:
        if refusal.kind == "expired":
            raise exceptions.S3ClientError("ExpiredToken", "The provided token has expired.") from None
        raise {
            "denied": exceptions.S3AccessDeniedError,
            "token": exceptions.S3InvalidTokenError,
            "signature": exceptions.S3SignatureDoesNotMatchError,
        }.get(refusal.kind, exceptions.S3InvalidAccessKeyIdError)() from None


@patch(
    service="iam",
    defect="with authorization on, an unmet condition denies even in an Allow statement, and only StringEquals "
    "is implemented (any other operator holds, and so does a condition whose key is absent); actions match "
    "case-sensitively; Resource patterns are regular expressions with only * translated (a . or ? in an ARN "
    "is not literal); a NotResource Deny permits; an inline policy CloudFormation stored (a dict) fails the "
    "request with HTTP 500 (KeyError 'policy_document'); the first Deny found ends the evaluation before "
    "another policy's; permissions boundaries and session policies are ignored",
    aws="explicit Deny > Allow > implicit deny over every applicable policy; Action matches case-"
    "insensitively, * and ? are the only wildcards; NotAction/NotResource; every condition operator, "
    "...IfExists, ForAnyValue/ForAllValues, Null, and an absent key fails the condition (a negated operator "
    "holds); policy variables; a permissions boundary and a session policy cap the identity's permissions. "
    "The emulator enforces IAM unless told not to (Emulator(enforce_iam=False) or LOCAL_EMULATOR_ENFORCE_IAM=0; "
    "on, moto's INITIAL_NO_AUTH_ACTION_COUNT=0)",
    reference=f"{IAM_GUIDE}/reference_policies_evaluation-logic.html; "
    f"{IAM_GUIDE}/reference_policies_elements_condition_operators.html; "
    f"{IAM_GUIDE}/reference_policies_multi-value-conditions.html",
    seen_in=MOTO,
)
def iam_policies_are_evaluated_as_aws_does(patcher: Patcher, emulator: Any) -> None:
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.responses import BaseResponse

    patcher.replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", _authorize_normal)
    patcher.replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action", _authorize_s3)
    call_action = BaseResponse.call_action

    def answered(self: Any) -> Any:
        try:
            return call_action(self)
        except RequestRefusedError as refusal:
            return _Hooks.shape(self, refusal)

    patcher.replace(BaseResponse, "call_action", answered)
    if getattr(emulator, "enforce_iam", False):
        patcher.replace(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        patcher.replace(ActionAuthenticatorMixin, "request_count", 0)


@patch(
    service="iam",
    defect="with authorization on, only an IAM user's or a session's access key is known: the key the emulator, "
    "its runtimes and tools sign with is refused (InvalidClientTokenId); an expired session's key still works",
    aws="the access keys of the account's root user (here `local` and the tests' `testing`, as the person "
    "deploying a stack is its administrator) are allowed everything but a resource policy's explicit Deny; "
    "an expired session is refused (ExpiredTokenException)",
    reference=f"{IAM_GUIDE}/id_root-user.html; "
    "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (DurationSeconds)",
    seen_in=MOTO,
)
def the_emulators_access_keys_are_the_account_root(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(_Hooks, "root_access_keys", ROOT_ACCESS_KEYS)
    patcher.replace(_Hooks, "sessions_expire", True)


@patch(
    service="iam",
    defect="the inline policies and managed policy ARNs of a role in a template: ManagedPolicyArns is ignored "
    "(SAM's roles get AWSLambdaBasicExecutionRole and the like this way)",
    aws="each ARN of ManagedPolicyArns is attached to the role (a policy that does not exist fails the stack)",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-iam-role.html#cfn-iam-role-managedpolicyarns",
    seen_in=MOTO,
)
def cloudformation_roles_attach_their_managed_policies(patcher: Patcher, emulator: Any) -> None:
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    create = Role.create_from_cloudformation_json.__func__

    def with_managed_policies(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam_backends[account_id][get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns") or []:
            try:
                backend.attach_role_policy(arn, role.name)
            except NotFoundException:
                if ":aws:policy/" not in arn:
                    raise
                # An AWS managed policy moto has not loaded (its config: load_aws_managed_policies).
        return role

    patcher.replace(Role, "create_from_cloudformation_json", classmethod(with_managed_policies))


# == describing requests =======================================================================
class _Request:
    """What the describers read of a request."""

    __slots__ = ("_params", "_query", "account", "operation", "region", "response")

    def __init__(self, response: Any, operation: str, region: str) -> None:
        self.response, self.operation, self.region = response, operation, region
        self.account = response.current_account
        self._params: dict[str, Any] | None = None
        self._query: dict[str, list[str]] | None = None

    @property
    def params(self) -> dict[str, Any]:
        if self._params is None:
            response, found = self.response, None
            if isinstance(response.body, dict):
                found = response.body  # DynamoDB's, parsed already
            elif getattr(response, "automated_parameter_parsing", False) and isinstance(
                getattr(response, "params", None), dict
            ):
                found = response.params
            else:
                try:
                    parsed = json.loads(response.body or "{}")
                    found = parsed if isinstance(parsed, dict) else {}
                except (ValueError, TypeError):
                    found = {}
            self._params = found
        return self._params

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(urlsplit(self.response.uri).query, keep_blank_values=True)
        return self._query

    def arn(self, service: str, resource: str, account: str | None = None) -> str:
        return f"arn:aws:{service}:{self.region}:{account or self.account}:{resource}"

    def check(self, prefix: str, resource: str, action: str | None = None, **extra: Any) -> Check:
        return Check(f"{prefix}:{action or self.operation}", resource, **extra)


def _request_tags(tags: Any) -> dict[str, Any]:
    """The aws:RequestTag/* and aws:TagKeys keys of the tags a request gives: a {key: value} map (Batch,
    Lambda, SQS) or a list of {Key, Value} (DynamoDB, Step Functions' key/value, EventBridge)."""
    if isinstance(tags, dict):
        pairs = [(str(k), str(v)) for k, v in tags.items()]
    else:
        pairs = [
            (str(t.get("Key", t.get("key"))), str(t.get("Value", t.get("value", ""))))
            for t in tags or []
            if isinstance(t, dict) and t.get("Key", t.get("key")) is not None
        ]
    context: dict[str, Any] = {f"aws:requesttag/{k.lower()}": v for k, v in pairs}
    if pairs:
        context["aws:tagkeys"] = [k for k, _ in pairs]
    return context


def _unique(checks: list[Check]) -> list[Check]:
    seen, unique = set(), []
    for check in checks:
        if (check.action, check.resource) not in seen:
            seen.add((check.action, check.resource))
            unique.append(check)
    return unique


def _states(request: _Request) -> list[Check] | None:
    from moto.stepfunctions.responses import get_backend

    op, params = request.operation, request.params
    backend = get_backend(request.account, request.region)

    def tags_of(arn: str) -> Callable[[], Any]:
        return lambda: backend.list_tags_for_resource(arn)

    if op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat", "ListStateMachines", "ListActivities"):
        return [request.check("states", "*")]
    if op == "CreateStateMachine":
        arn = request.arn("states", f"stateMachine:{params.get('name', '')}")
        return [request.check("states", arn, context=_request_tags(params.get("tags") or []))]
    if op == "CreateActivity":
        arn = request.arn("states", f"activity:{params.get('name', '')}")
        return [request.check("states", arn, context=_request_tags(params.get("tags") or []))]
    if op == "ListExecutions":
        arn = params.get("mapRunArn") or params.get("stateMachineArn") or "*"
    else:
        names = ("stateMachineArn", "executionArn", "mapRunArn", "resourceArn", "activityArn")
        arn = next((params[name] for name in names if name in params), None)
    if not arn:
        return None
    context = _request_tags(params["tags"]) if op == "TagResource" and "tags" in params else None
    if op == "UntagResource":
        context = {"aws:tagkeys": list(params.get("tagKeys") or [])}
    tagged = ":stateMachine:" in arn and arn.count(":") == 6
    return [request.check("states", arn, context=context, tags_of=tags_of(arn) if tagged else None)]


def _batch(request: _Request) -> list[Check] | None:
    from moto.batch.models import batch_backends

    response, params = request.response, request.params
    backend = batch_backends[request.account][request.region]
    op = request.operation
    if op == "tags":
        op = {"POST": "TagResource", "GET": "ListTagsForResource", "DELETE": "UntagResource"}.get(response.method, op)

    def tags_of(arn: str) -> Callable[[], Any]:
        return lambda: backend.list_tags_for_resource(arn)

    def check(resource: str, action: str | None = None, **extra: Any) -> Check:
        return request.check("batch", resource, action=action or op, **extra)

    def resolved(identifier: str | None, getter: Callable[[str], Any], kind: str) -> str:
        if not identifier:
            return request.arn("batch", f"{kind}/*")
        found = getter(identifier)
        if found is not None:
            return found.arn
        return identifier if identifier.startswith("arn:") else request.arn("batch", f"{kind}/{identifier}")

    if op == "SubmitJob":
        context = _request_tags(params["tags"]) if params.get("tags") else None
        queue = resolved(params.get("jobQueue"), backend.get_job_queue, "job-queue")
        definition = resolved(params.get("jobDefinition"), backend.get_job_definition, "job-definition")
        checks = [
            check(queue, context=context, tags_of=tags_of(queue)),
            check(definition, context=context, tags_of=tags_of(definition)),
        ]
        if context:  # tags given at submission are set by an implicit TagResource on the new job
            checks.append(check(request.arn("batch", "job/*"), action="TagResource", context=context))
        return checks
    if op in ("TerminateJob", "CancelJob"):
        arn = request.arn("batch", f"job/{params.get('jobId', '')}")
        return [check(arn, tags_of=tags_of(arn))]
    if op in ("TagResource", "ListTagsForResource", "UntagResource"):
        arn = unquote(urlsplit(response.uri).path).split("/v1/tags/", 1)[-1]
        if op == "TagResource":
            context = _request_tags(params.get("tags") or {})
        elif op == "UntagResource":
            context = {"aws:tagkeys": request.query.get("tagKeys", [])}
        else:
            context = None
        return [check(arn, context=context, tags_of=tags_of(arn))]
    if op in ("CreateComputeEnvironment", "CreateJobQueue", "CreateSchedulingPolicy", "RegisterJobDefinition"):
        kind, name = {
            "CreateComputeEnvironment": ("compute-environment", params.get("computeEnvironmentName")),
            "CreateJobQueue": ("job-queue", params.get("jobQueueName")),
            "CreateSchedulingPolicy": ("scheduling-policy", params.get("name")),
            "RegisterJobDefinition": ("job-definition", params.get("jobDefinitionName")),
        }[op]
        context = _request_tags(params["tags"]) if params.get("tags") else None
        return [check(request.arn("batch", f"{kind}/{name}"), context=context)]
    if op in ("UpdateComputeEnvironment", "DeleteComputeEnvironment"):
        environment = params.get("computeEnvironment")
        return [check(resolved(environment, backend.get_compute_environment, "compute-environment"))]
    if op in ("UpdateJobQueue", "DeleteJobQueue"):
        return [check(resolved(params.get("jobQueue"), backend.get_job_queue, "job-queue"))]
    if op == "DeregisterJobDefinition":
        return [check(resolved(params.get("jobDefinition"), backend.get_job_definition, "job-definition"))]
    return [check("*")]  # the Describe* and List* actions accept no resource-level permissions


_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction"}
_FUNCTION_IN_PATH = re.compile(r"/functions/([^/]+)")


def _function_arn(request: _Request, name: str, qualifier: str | None) -> str:
    account = request.account
    if name.startswith("arn:"):
        parts = name.split(":")
        base, qualifier = ":".join(parts[:7]), qualifier or (parts[7] if len(parts) > 7 else None)
    else:
        parts = name.split(":")
        if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
            account, name, qualifier = parts[0], parts[2], qualifier or (parts[3] if len(parts) > 3 else None)
        elif len(parts) == 2:
            name, qualifier = parts[0], qualifier or parts[1]
        base = request.arn("lambda", f"function:{name}", account)
    return f"{base}:{qualifier}" if qualifier and qualifier != "$LATEST" else base


def _function_tags(request: _Request, arn: str) -> Callable[[], Any]:
    from moto.awslambda.models import lambda_backends

    def tags() -> Any:
        return lambda_backends[request.account][request.region].list_tags(":".join(arn.split(":")[:7]))

    return tags


def _lambda(request: _Request) -> list[Check] | None:
    op = request.operation
    action = _LAMBDA_ACTIONS.get(op, op)
    path = urlsplit(request.response.uri).path
    if op in ("TagResource", "UntagResource", "ListTags"):
        arn = unquote(path.split("/tags/", 1)[-1])
        context = _request_tags(request.params.get("Tags") or {}) if op == "TagResource" else None
        return [request.check("lambda", arn, context=context, tags_of=_function_tags(request, arn))]
    if op == "CreateFunction":
        arn = _function_arn(request, request.params.get("FunctionName", ""), None)
        context = _request_tags(request.params.get("Tags") or {}) if request.params.get("Tags") else None
        return [request.check("lambda", arn, context=context)]
    found = _FUNCTION_IN_PATH.search(path)
    if found is None:
        return [request.check("lambda", "*", action=action)]
    qualifier = (request.query.get("Qualifier") or [None])[0]
    arn = _function_arn(request, unquote(found.group(1)), qualifier)
    return [request.check("lambda", arn, action=action, tags_of=_function_tags(request, arn))]


_TRANSACTION_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
_TRANSACTION_ACTIONS |= {"ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _dynamodb(request: _Request) -> list[Check] | None:
    from moto.dynamodb.models import dynamodb_backends

    op, params = request.operation, request.params

    def table_arn(name: str) -> str:
        return name if name.startswith("arn:") else request.arn("dynamodb", f"table/{name}")

    def tags_of(arn: str) -> Callable[[], Any]:
        return lambda: dynamodb_backends[request.account][request.region].list_tags_of_resource(arn)

    if op in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in params.get("TransactItems") or []:
            for kind, request_item in item.items():
                if kind in _TRANSACTION_ACTIONS and isinstance(request_item, dict):
                    arn, action = table_arn(request_item.get("TableName", "")), _TRANSACTION_ACTIONS[kind]
                    checks.append(request.check("dynamodb", arn, action=action, tags_of=tags_of(arn)))
        return _unique(checks)
    if op in ("BatchGetItem", "BatchWriteItem"):
        return [
            request.check("dynamodb", table_arn(name), tags_of=tags_of(table_arn(name)))
            for name in params.get("RequestItems") or {}
        ]
    if op in ("TagResource", "UntagResource", "ListTagsOfResource"):
        arn = params.get("ResourceArn", "*")
        context = _request_tags(params.get("Tags") or []) if op == "TagResource" else None
        if op == "UntagResource":
            context = {"aws:tagkeys": list(params.get("TagKeys") or [])}
        return [request.check("dynamodb", arn, context=context, tags_of=tags_of(arn))]
    name = params.get("TableName")
    if not name:
        return [request.check("dynamodb", "*")]
    arn = table_arn(name)
    if op in ("Query", "Scan") and params.get("IndexName"):
        arn = f"{arn}/index/{params['IndexName']}"
    context = _request_tags(params["Tags"]) if op == "CreateTable" and params.get("Tags") else None
    return [request.check("dynamodb", arn, context=context, tags_of=tags_of(table_arn(name)))]


def _sqs(request: _Request) -> list[Check] | None:
    from moto.sqs.models import sqs_backends

    op, params = request.operation, request.params
    if op == "ListQueues":
        return [request.check("sqs", "*")]
    url = params.get("QueueUrl") or ""
    name = url.rstrip("/").rsplit("/", 1)[-1] if url else params.get("QueueName") or ""
    if not name:
        return None
    arn = request.arn("sqs", name)

    def tags_of() -> Any:
        return sqs_backends[request.account][request.region].get_queue(name).tags

    context = None
    if op in ("CreateQueue", "TagQueue") and (params.get("tags") or params.get("Tags")):
        context = _request_tags(params.get("tags") or params.get("Tags"))
    return [request.check("sqs", arn, context=context, tags_of=tags_of)]


def _logs(request: _Request) -> list[Check] | None:
    params = request.params
    group = params.get("logGroupName") or params.get("logGroupIdentifier")
    if not group:
        return [request.check("logs", "*")]
    base = group.removesuffix(":*") if group.startswith("arn:") else request.arn("logs", f"log-group:{group}")
    stream = params.get("logStreamName")
    return [request.check("logs", f"{base}:log-stream:{stream}" if stream else base)]


def _events(request: _Request) -> list[Check] | None:
    op, params = request.operation, request.params

    def bus_arn(bus: str | None) -> str:
        bus = bus or "default"
        return bus if bus.startswith("arn:") else request.arn("events", f"event-bus/{bus}")

    if op == "PutEvents":
        return _unique([request.check("events", bus_arn(e.get("EventBusName"))) for e in params.get("Entries") or []])
    name = params.get("Name") if op != "PutTargets" and op != "RemoveTargets" and op != "ListTargetsByRule" else None
    name = name or params.get("Rule")
    if not name or op in ("ListRules", "ListEventBuses", "DescribeEventBus", "CreateEventBus", "DeleteEventBus"):
        return None
    bus = params.get("EventBusName")
    bus_name = bus.rsplit("/", 1)[-1] if bus else "default"
    resource = f"rule/{name}" if bus_name == "default" else f"rule/{bus_name}/{name}"
    context = _request_tags(params["Tags"]) if op == "PutRule" and params.get("Tags") else None
    return [request.check("events", request.arn("events", resource), context=context)]


def _kms(request: _Request) -> list[Check] | None:
    from moto.kms.models import kms_backends

    key = request.params.get("KeyId") or request.params.get("TargetKeyId")
    if not key:
        return None
    if not key.startswith("arn:") or ":alias/" in key:
        try:
            key = kms_backends[request.account][request.region].any_id_to_key_id(key)
        except Exception:
            return None
    return [request.check("kms", key if key.startswith("arn:") else request.arn("kms", f"key/{key}"))]


def _cloudformation(request: _Request) -> list[Check] | None:
    name = request.params.get("StackName")
    if not name:
        return None
    arn = name if name.startswith("arn:") else request.arn("cloudformation", f"stack/{name}/*")
    return [request.check("cloudformation", arn)]


def _sts(request: _Request) -> list[Check] | None:
    if request.operation != "AssumeRole":
        return None
    params = request.params
    context = {"sts:rolesessionname": params.get("RoleSessionName")}
    if params.get("ExternalId"):
        context["sts:externalid"] = params["ExternalId"]
    return [request.check("sts", params.get("RoleArn", "*"), context=context)]


_DESCRIBERS: dict[str, Callable[[_Request], list[Check] | None]] = {
    "states": _states,
    "batch": _batch,
    "lambda": _lambda,
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "logs": _logs,
    "events": _events,
    "kms": _kms,
    "cloudformation": _cloudformation,
    "sts": _sts,
}
_operation_names: dict[str, dict[str, str]] = {}


def _operation(response: Any) -> str:
    """The request's operation as AWS names it (moto's Batch has it lower-case, from the URL)."""
    raw = response._get_action() or ""
    service = response.boto3_service_name
    names = _operation_names.get(service)
    if names is None:
        from moto.core.utils import get_service_model

        try:
            names = {name.lower(): name for name in get_service_model(service).operation_names}
        except Exception:
            names = {}
        _operation_names[service] = names
    return names.get(raw.lower(), raw)


# S3: each operation's action, by method and the subresource that names it in the query string.
_S3_BUCKET_ACTIONS = {
    "GET": {
        "uploads": "ListBucketMultipartUploads", "versions": "ListBucketVersions", "location": "GetBucketLocation",
        "versioning": "GetBucketVersioning", "policy": "GetBucketPolicy", "policyStatus": "GetBucketPolicyStatus",
        "acl": "GetBucketAcl", "tagging": "GetBucketTagging", "cors": "GetBucketCORS",
        "lifecycle": "GetLifecycleConfiguration", "notification": "GetBucketNotification",
        "encryption": "GetEncryptionConfiguration", "publicAccessBlock": "GetBucketPublicAccessBlock",
        "ownershipControls": "GetBucketOwnershipControls", "website": "GetBucketWebsite", "logging": "GetBucketLogging",
        "object-lock": "GetBucketObjectLockConfiguration", "replication": "GetReplicationConfiguration",
        "accelerate": "GetAccelerateConfiguration", "requestPayment": "GetBucketRequestPayment",
        "inventory": "GetInventoryConfiguration", "analytics": "GetAnalyticsConfiguration",
        "metrics": "GetMetricsConfiguration", "intelligent-tiering": "GetIntelligentTieringConfiguration",
    },
    "PUT": {
        "policy": "PutBucketPolicy", "versioning": "PutBucketVersioning", "tagging": "PutBucketTagging",
        "acl": "PutBucketAcl", "cors": "PutBucketCORS", "lifecycle": "PutLifecycleConfiguration",
        "notification": "PutBucketNotification", "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock", "ownershipControls": "PutBucketOwnershipControls",
        "website": "PutBucketWebsite", "logging": "PutBucketLogging", "object-lock": "PutBucketObjectLockConfiguration",
        "replication": "PutReplicationConfiguration", "accelerate": "PutAccelerateConfiguration",
        "requestPayment": "PutBucketRequestPayment", "inventory": "PutInventoryConfiguration",
        "analytics": "PutAnalyticsConfiguration", "metrics": "PutMetricsConfiguration",
        "intelligent-tiering": "PutIntelligentTieringConfiguration",
    },
    "DELETE": {
        "policy": "DeleteBucketPolicy", "tagging": "PutBucketTagging", "cors": "PutBucketCORS",
        "lifecycle": "PutLifecycleConfiguration", "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock", "ownershipControls": "PutBucketOwnershipControls",
        "website": "DeleteBucketWebsite", "replication": "PutReplicationConfiguration",
        "inventory": "PutInventoryConfiguration", "analytics": "PutAnalyticsConfiguration",
        "metrics": "PutMetricsConfiguration", "intelligent-tiering": "PutIntelligentTieringConfiguration",
    },
}  # fmt: skip
_S3_OBJECT_ACTIONS = {
    ("GET", "acl"): "GetObjectAcl", ("GET", "tagging"): "GetObjectTagging", ("GET", "legal-hold"): "GetObjectLegalHold",
    ("GET", "retention"): "GetObjectRetention", ("GET", "uploadId"): "ListMultipartUploadParts",
    ("PUT", "acl"): "PutObjectAcl", ("PUT", "tagging"): "PutObjectTagging", ("PUT", "legal-hold"): "PutObjectLegalHold",
    ("PUT", "retention"): "PutObjectRetention", ("DELETE", "uploadId"): "AbortMultipartUpload",
    ("DELETE", "tagging"): "DeleteObjectTagging", ("POST", "restore"): "RestoreObject", ("POST", "select"): "GetObject",
}  # fmt: skip
_S3_VERSIONED = {
    "GetObject": "GetObjectVersion", "GetObjectAcl": "GetObjectVersionAcl",
    "GetObjectTagging": "GetObjectVersionTagging", "GetObjectAttributes": "GetObjectVersionAttributes",
    "PutObjectAcl": "PutObjectVersionAcl", "PutObjectTagging": "PutObjectVersionTagging",
    "DeleteObject": "DeleteObjectVersion", "DeleteObjectTagging": "DeleteObjectVersionTagging",
}  # fmt: skip


def _s3(response: Any, bucket: str | None, key: str | None) -> list[Check]:
    method = "GET" if response.method == "HEAD" else response.method
    query = parse_qs(response.parsed_url.query, keep_blank_values=True) if response.parsed_url.query else {}
    if not bucket:
        return [Check("s3:ListAllMyBuckets", "*")]
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "POST":
            if "delete" in query:
                # DeleteObjects: s3:DeleteObject of each key (s3:DeleteObjectVersion of a key named with its
                # version), as moto checks them (get_permission)
                return []
            return [Check("s3:PutObject", f"{bucket_arn}/{(response.querystring.get('key') or [''])[0]}")]
        if method == "OPTIONS":
            return []
        subresources = _S3_BUCKET_ACTIONS.get(method, {})
        subresource = next((subresources[q] for q in query if q in subresources), None)
        action = subresource or {"GET": "ListBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}[method]
        context = None
        if action in ("ListBucket", "ListBucketVersions"):
            context = {
                f"s3:{name}": query[name][0] for name in ("prefix", "delimiter", "max-keys") if name in query
            }  # fmt: skip
        return [Check(f"s3:{action}", bucket_arn, context)]
    arn = f"{bucket_arn}/{key}"
    action = next((_S3_OBJECT_ACTIONS[(method, q)] for q in query if (method, q) in _S3_OBJECT_ACTIONS), None)
    if action is None:
        if method == "GET" and "attributes" in query:
            action = "GetObjectAttributes"
        else:
            action = {"GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject", "POST": "PutObject"}.get(method)
    if action is None:
        return []
    if "versionId" in query:
        action = _S3_VERSIONED.get(action, action)
    checks = [Check(f"s3:{action}", arn)]
    if action in ("GetObjectAttributes", "GetObjectVersionAttributes"):
        checks.append(Check("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", arn))
    source = response.headers.get("x-amz-copy-source")
    if method == "PUT" and source:  # CopyObject, UploadPartCopy: the source is read
        source, _, source_query = unquote(source).lstrip("/").partition("?")
        version = "versionId=" in source_query
        checks.append(Check("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{source}"))
    tagged = response.headers.get("x-amz-tagging")
    if method == "PUT" and tagged and "partNumber" not in query and "tagging" not in query:
        checks.append(Check("s3:PutObjectTagging", arn))
    return checks


def _describe(response: Any, prefix: str, moto_resource: str, s3_target: tuple[str | None, str | None] | None):
    if s3_target is not None:
        return _s3(response, *s3_target)
    operation = _operation(response)
    describer = _DESCRIBERS.get(prefix)
    if describer is not None:
        checks = describer(_Request(response, operation, getattr(response, "_iam_region", response.region)))
        if checks is not None:
            return checks
    return [Check(f"{prefix}:{operation}", moto_resource)]


@patch(
    service="iam",
    defect="with authorization on, a request is checked for moto's method name against the resource `*` "
    "(only SQS, STS and IAM name a resource): every resource-scoped Allow of DynamoDB, Step Functions, "
    "Batch or Lambda denies; Batch's actions are lower-case (batch:describejobqueues: always denied); "
    "Lambda's Invoke is checked as lambda:Invoke; S3 checks its own names (s3:DeleteObjects, s3:HeadObject, "
    "s3:ListObjectsV2...); a transaction's items, a copy's source and a submission's tags are not checked",
    aws="each request is authorized for the IAM actions its operation needs on the ARNs of its resources, "
    "with the condition keys it carries: a table's items (TransactWriteItems: dynamodb:PutItem/UpdateItem/"
    "DeleteItem/ConditionCheckItem per item), a job's queue and definition (SubmitJob, and batch:TagResource "
    "when it tags, with aws:RequestTag), a job's tags (TerminateJob: aws:ResourceTag), a function's "
    "qualified ARN (lambda:InvokeFunction), an object's (s3:GetObjectVersion, s3:AbortMultipartUpload, a "
    "DeleteObjects key's s3:DeleteObjectVersion when it names its version, "
    "s3:ListBucket with s3:prefix); aws:SecureTransport is true",
    reference="https://docs.aws.amazon.com/service-authorization/latest/reference/"
    "reference_policies_actions-resources-contextkeys.html; "
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html",
    seen_in=MOTO,
)
def requests_name_their_iam_actions_and_resources(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(_Hooks, "describe", staticmethod(_describe))


# == refusals ==================================================================================
# Per refusal kind: the code of a JSON protocol, of the query protocol, and EC2's.
_CODES = {
    "denied": ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"),
    "invalid": ("UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"),
    "token": ("UnrecognizedClientException", "InvalidClientTokenId", "AuthFailure"),
    "signature": ("InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure"),
    "expired": ("ExpiredTokenException", "ExpiredToken", "AuthFailure"),
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", "AuthFailure"),
}
_protocols: dict[str, tuple[Any, bool]] = {}


def _shape(response: Any, refusal: RequestRefusedError) -> tuple[int, dict[str, str], str]:
    from moto.core.request import determine_request_protocol
    from moto.core.utils import get_service_model

    service = response.boto3_service_name
    known = _protocols.get(service)
    if known is None:
        model = get_service_model(service)
        known = _protocols[service] = (model, bool(model.metadata.get("awsQueryCompatible") is not None))
    model, query_compatible = known
    try:
        protocol = determine_request_protocol(model, response.headers.get("Content-Type", ""))
    except NotImplementedError:
        protocol = str(model.protocol)
    json_code, query_code, ec2_code = _CODES[refusal.kind]
    message, request_id = refusal.message(), str(uuid.uuid4())
    if protocol in ("json", "rest-json"):
        status = 403 if protocol == "rest-json" or query_compatible or refusal.kind == "missing" else 400
        field = "Message" if service == "dynamodb" else "message"
        headers = {
            "Content-Type": "application/json" if protocol == "rest-json" else "application/x-amz-json-1.0",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": f"{json_code}:",
        }
        if query_compatible:
            headers["x-amzn-query-error"] = f"{query_code};Sender"
        body: dict[str, str] = {"__type": f"com.amazon.coral.service#{json_code}", field: message}
        if service == "lambda":
            body = {"Type": "User", "Message": message}
        return status, headers, json.dumps(body)
    if protocol == "ec2":
        status = 403 if refusal.kind == "denied" else 401
        body_text = (
            f"<Response><Errors><Error><Code>{ec2_code}</Code><Message>{_xml(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return status, {"Content-Type": "text/xml"}, body_text
    body_text = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>{query_code}</Code><Message>{_xml(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 403, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body_text


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@patch(
    service="iam",
    defect="every refusal is IAM's XML ErrorResponse (AccessDenied, 403; InvalidClientTokenId; "
    "SignatureDoesNotMatch) whatever the service's protocol: botocore cannot read the error of a JSON service "
    "(DynamoDB, Step Functions, Lambda, Batch...), and the message names neither the resource nor the reason",
    aws='a JSON service answers AccessDeniedException (HTTP 400; Lambda and Batch 403) with "User: <caller> is '
    "not authorized to perform: <action> on resource: <arn> because no identity-based policy allows the "
    '<action> action" (or "with an explicit deny in an identity-based policy"); a query service and S3 '
    "answer AccessDenied (403); an unknown key is UnrecognizedClientException / InvalidClientTokenId",
    reference=f"{IAM_GUIDE}/troubleshoot_access-denied.html; "
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/CommonErrors.html",
    seen_in=MOTO,
)
def access_denied_is_shaped_as_each_service_returns_it(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(_Hooks, "shape", staticmethod(_shape))


def _body_as_sent(response: Any) -> Any:
    if response.raw_body:
        return response.raw_body
    if response.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        return response.data  # a form the server parsed (its body read): encoded again as it came, in order
    return b""


@patch(
    service="iam",
    defect="with authorization on, the signature of a request without a body is checked over moto's parsed "
    "parameters (its headers, when there is no query string): every Lambda GET (GetFunction, GetPolicy...) "
    "and every Invoke with an empty payload fails with SignatureDoesNotMatch",
    aws="Signature Version 4 signs the request's payload as sent: an empty body is the hash of no bytes",
    reference="https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html",
    seen_in=MOTO,
)
def signatures_are_checked_over_the_body_as_sent(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(_Hooks, "signed_body", staticmethod(_body_as_sent))


# == resource policies ==========================================================================
_local = threading.local()  # the S3 request this thread serves, while moto checks DeleteObjects' keys


def _bucket_policies(response: Any, check: Check, principal: Principal) -> list[Policy]:
    from moto.s3.models import s3_backends

    if not check.resource.startswith("arn:aws:s3:::"):
        return []
    bucket = check.resource[len("arn:aws:s3:::") :].partition("/")[0]
    try:
        found = s3_backends[response.current_account][response.partition].get_bucket(bucket)
    except Exception:  # no such bucket: the operation answers NoSuchBucket
        return []
    return [policy_of(found.policy)] if found.policy else []


def _versioned_keys(body: Any) -> Iterator[bool]:
    """For each key of a DeleteObjects request, in order (as moto asks about them): whether it names a version."""
    import xmltodict

    try:
        objects = xmltodict.parse(body, strip_whitespace=False)["Delete"].get("Object", [])
    except Exception:  # moto answers a malformed body itself
        return iter(())
    return iter([bool(o.get("VersionId")) for o in (objects if isinstance(objects, list) else [objects])])


def _bucket_permission(bucket: Any, action: str, resource: str) -> Any:
    """FakeBucket.get_permission: the bucket policy's answer, with AWS's semantics. moto asks it before
    every object request (a Deny ends the request there) and for each key of a DeleteObjects."""
    from moto.iam.access_control import PermissionResult

    response = getattr(_local, "response", None)
    principal = getattr(response, "_iam_principal", None)
    versioned = getattr(_local, "versioned", None)
    if versioned is not None and action == "s3:DeleteObject" and next(versioned, False):
        action = "s3:DeleteObjectVersion"  # a key DeleteObjects names with its VersionId
    if enforcing():
        if principal is None:
            return PermissionResult.NEUTRAL  # the request's own check follows and decides
        try:
            _decide(response, principal, Check(action, resource))
        except RequestRefusedError:
            return PermissionResult.DENIED
        return PermissionResult.PERMITTED
    if not bucket.policy:
        return PermissionResult.NEUTRAL
    # Not enforcing: the bucket policy alone, for whoever the statements name by "*", over HTTPS.
    anyone = Principal("anonymous", "anonymous", bucket.account_id, getattr(bucket, "region_name", ""))
    check = Check(action, resource)
    denied, named, _ = policy_of(bucket.policy).evaluate(check, Context(check, anyone), anyone)
    if denied:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if named else PermissionResult.NEUTRAL


@patch(
    service="s3",
    defect="a bucket policy is evaluated, even with authorization off, on every object request as moto's "
    "partial evaluation does it: its Bool condition holds whatever the request (the common DenyInsecureTransport "
    "statement denies every request: HTTP 403 with no body), and with authorization on it never allows "
    "(a role that the bucket policy names is denied without an identity policy of its own)",
    aws="the bucket policy is evaluated with the request's context (aws:SecureTransport is true over HTTPS, as "
    "SDKs reach S3) together with the caller's identity policies: within the account, an Allow in either "
    "suffices and an explicit Deny in either denies",
    reference="https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
    "access-control-auth-workflow-object-operation.html; "
    f"{IAM_GUIDE}/reference_policies_evaluation-logic-cross-account.html",
    seen_in=MOTO,
)
def s3_bucket_policies_are_evaluated_as_aws_does(patcher: Patcher, emulator: Any) -> None:
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    patcher.replace_item(_RESOURCE_POLICIES, "s3", _bucket_policies)
    patcher.replace(FakeBucket, "get_permission", _bucket_permission)
    delete_keys = S3Response._bucket_response_delete_keys

    def each_key_as_the_caller(self: Any, bucket_name: str, authenticated: bool = True) -> Any:
        _local.response, _local.versioned = self, _versioned_keys(self.body)
        try:
            return delete_keys(self, bucket_name, authenticated)
        finally:
            _local.response = _local.versioned = None

    patcher.replace(S3Response, "_bucket_response_delete_keys", each_key_as_the_caller)


def _may_list(response: Any, bucket: str) -> bool:
    """Whether the caller of this S3 request may list BUCKET (s3:ListBucket): what S3 asks before it says
    that a key does not exist. The root user and a request not checked may."""
    principal = getattr(response, "_iam_principal", None)
    if principal is None or principal.kind == "root" or not enforcing():
        return True
    try:
        _decide(response, principal, Check("s3:ListBucket", f"arn:aws:s3:::{bucket}"))
    except RequestRefusedError:
        return False
    return True


@patch(
    service="s3",
    defect="GetObject and HeadObject of a key that does not exist answer NoSuchKey (404) to any caller allowed to "
    "read the bucket's objects",
    aws="S3 answers 404 (NoSuchKey) only to a caller that also has s3:ListBucket on the bucket; to any other, "
    "403 (AccessDenied), so that who may not list a bucket cannot learn which keys exist",
    reference="https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html (Permissions); "
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html",
    seen_in=MOTO,
)
def missing_keys_are_denied_to_who_may_not_list_the_bucket(patcher: Patcher, emulator: Any) -> None:
    from moto.s3.exceptions import MissingKey, S3AccessDeniedError
    from moto.s3.responses import S3Response

    key_response = S3Response._key_response

    def answered_as_aws(self: Any, request: Any, full_url: str) -> Any:
        try:
            result = key_response(self, request, full_url)
        except MissingKey:
            if request.method == "GET" and not _may_list(self, self.parse_bucket_name_from_url(request, full_url)):
                raise S3AccessDeniedError() from None
            raise
        missing = request.method == "HEAD" and result[0] == 404 and "x-amz-delete-marker" not in result[1]
        if missing and not _may_list(self, self.parse_bucket_name_from_url(request, full_url)):
            return 403, {}, ""
        return result

    patcher.replace(S3Response, "_key_response", answered_as_aws)


def _queue_policies(response: Any, check: Check, principal: Principal) -> list[Policy]:
    from moto.sqs.models import sqs_backends

    parts = check.resource.split(":")
    if len(parts) != 6:
        return []
    try:
        queue = sqs_backends[parts[4]][parts[3]].get_queue(parts[5])
    except Exception:
        return []
    document = queue.policy
    return [policy_of(document)] if document else []


@patch(
    service="sqs",
    defect="with authorization on, a queue's policy (its Policy attribute) is ignored: a role it allows is "
    "denied, a caller it denies is allowed",
    aws="the queue policy is evaluated with the caller's identity policies: within the account an Allow in "
    "either suffices, an explicit Deny in either denies",
    reference="https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-using-identity-based-policies.html",
    seen_in=MOTO,
)
def sqs_queue_policies_are_evaluated(patcher: Patcher, emulator: Any) -> None:
    patcher.replace_item(_RESOURCE_POLICIES, "sqs", _queue_policies)


def _function_policies(response: Any, check: Check, principal: Principal) -> list[Policy]:
    from moto.awslambda.models import lambda_backends

    parts = check.resource.split(":")
    if len(parts) < 7 or parts[5] != "function":
        return []
    try:
        function = lambda_backends[parts[4]][parts[3]].get_function(parts[6], parts[7] if len(parts) > 7 else None)
    except Exception:
        return []
    policy = function.policy
    if not policy.statements:
        return []
    return [policy_of({"Statement": list(policy.statements)}, key=("lambda", id(policy), policy.revision))]


@patch(
    service="awslambda",
    defect="with authorization on, a function's resource policy (AddPermission, AWS::Lambda::Permission) is "
    "ignored: a role it names cannot invoke the function without an identity policy of its own",
    aws="the function's resource policy is evaluated with the caller's identity policies: within the account "
    "an Allow in either suffices",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html",
    seen_in=MOTO,
)
def lambda_function_policies_are_evaluated(patcher: Patcher, emulator: Any) -> None:
    patcher.replace_item(_RESOURCE_POLICIES, "lambda", _function_policies)


@patch(
    service="cloudformation",
    defect="no AWS::S3::BucketPolicy resource: a template's bucket policy is never set",
    aws="the bucket's policy is the PolicyDocument; deleting the resource deletes the policy",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-s3-bucketpolicy.html",
    seen_in=MOTO,
)
def cloudformation_creates_bucket_policies(patcher: Patcher, emulator: Any) -> None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    class BucketPolicy(_AddedResource):
        logical_type = "AWS::S3::BucketPolicy"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            document = properties["PolicyDocument"]
            text = document if isinstance(document, str) else json.dumps(document)
            backend = s3_backends[account_id][get_partition(region_name)]
            backend.put_bucket_policy(properties["Bucket"], text.encode())
            resource = cls(properties["Bucket"])
            resource.partition = get_partition(region_name)
            return resource

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            bucket = cloudformation_json.get("Properties", {}).get("Bucket") or resource_name
            with contextlib.suppress(Exception):  # the bucket went first
                s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(bucket)

    _add_resource_types(patcher, BucketPolicy)


@patch(
    service="cloudformation",
    defect="no AWS::SQS::QueuePolicy resource: a template's queue policy is never set",
    aws="each queue of Queues (by URL) gets the PolicyDocument as its Policy attribute",
    reference=f"{RESOURCE_REFERENCE}/aws-resource-sqs-queuepolicy.html",
    seen_in=MOTO,
)
def cloudformation_creates_queue_policies(patcher: Patcher, emulator: Any) -> None:
    from moto.sqs.models import sqs_backends

    def queue_names(properties: dict[str, Any]) -> list[str]:
        return [str(url).rstrip("/").rsplit("/", 1)[-1] for url in properties.get("Queues") or []]

    class QueuePolicy(_AddedResource):
        logical_type = "AWS::SQS::QueuePolicy"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json["Properties"]
            document = properties["PolicyDocument"]
            text = document if isinstance(document, str) else json.dumps(document)
            backend = sqs_backends[account_id][region_name]
            for name in queue_names(properties):
                backend.set_queue_attributes(name, {"Policy": text})
            return cls(f"{resource_name}-{uuid.uuid4().hex[:12]}")

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            backend = sqs_backends[account_id][region_name]
            for name in queue_names(cloudformation_json.get("Properties", {})):
                with contextlib.suppress(Exception):  # the queue went first
                    backend.set_queue_attributes(name, {"Policy": ""})

    _add_resource_types(patcher, QueuePolicy)
