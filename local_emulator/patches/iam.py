"""IAM: what every request costs moto's IAM (it looks up the caller's access key there), and its answers."""

from typing import Any

from local_emulator.patches.registry import Patcher, patch


@patch(
    service="iam",
    defect="every request looks its access key up in the IAM of all six partitions, which creates the five "
    "nobody uses, each loading AWS's 1,582 managed policies: 1.4 s of CPU at an emulator's first request",
    aws="none: a speed-up, behaviour unchanged (a key exists only in a partition whose IAM has been created)",
    reference="moto/iam/models.py (get_account_id_from: account[partition] for every partition)",
    seen_in="5.2.5",
)
def access_keys_are_found_without_creating_partitions(patcher: Patcher, emulator: Any) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(models.iam_backends.items()):
            # The partitions' backends made so far (dict.values() does not make the others).
            if any(access_key in backend.access_keys for backend in list(account.values())):
                return account_id
        return DEFAULT_ACCOUNT_ID

    patcher.replace(models, "get_account_id_from", get_account_id_from)


@patch(
    service="iam",
    defect="GetRolePolicy of an inline policy CloudFormation created (AWS::IAM::Role Policies, AWS::IAM::Policy) "
    "answers the document as a Python literal ({'Version': ...}), which no JSON reader parses",
    aws="PolicyDocument is the policy's JSON, URL-encoded (the SDKs decode it)",
    reference="https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html",
    seen_in="5.2.5",
)
def inline_policies_read_back_as_json(patcher: Patcher, emulator: Any) -> None:
    import json

    from moto.iam.models import IAMBackend

    get_role_policy = IAMBackend.get_role_policy

    def as_json(backend: IAMBackend, role_name: str, policy_name: str) -> tuple[str, str]:
        name, document = get_role_policy(backend, role_name, policy_name)
        return name, document if isinstance(document, str) else json.dumps(document)

    patcher.replace(IAMBackend, "get_role_policy", as_json)
