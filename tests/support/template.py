"""template.yaml as data: the SAM template, and the state machine definitions it deploys."""

import json
import re
from functools import cache
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from tests.support.paths import ROOT, TEMPLATE


@cache
def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in sam_template()["Resources"].items() if r["Type"] == kind}


def state_machine_files() -> dict[str, Any]:
    """Logical id -> (ASL file, DefinitionSubstitutions) of every state machine."""
    return {
        name: (ROOT / r["Properties"]["DefinitionUri"], r["Properties"].get("DefinitionSubstitutions", {}))
        for name, r in resources("AWS::Serverless::StateMachine").items()
    }


PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def substituted_definition(asl_text: str, values: dict[str, str]) -> dict[str, Any]:
    """The definition as Step Functions sees it after DefinitionSubstitutions."""
    return json.loads(PLACEHOLDER.sub(lambda m: values[m.group(1)], asl_text))
