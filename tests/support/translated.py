"""template.yaml after the SAM transform: the CloudFormation (and IAM) that AWS would create."""

import copy
from functools import cache
from typing import Any

from samtranslator.translator.transform import transform

from tests.support.template import sam_template


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@cache
def translated_template() -> dict[str, Any]:
    template = copy.deepcopy(sam_template())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if "CodeUri" in properties:
            properties["CodeUri"] = "s3://artifacts/code.zip"
        if "DefinitionUri" in properties:
            properties["DefinitionUri"] = "s3://artifacts/definition.asl.json"
    return transform(template, {}, _NoManagedPolicies())
