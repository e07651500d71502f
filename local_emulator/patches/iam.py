"""IAM: what every request costs moto's IAM (it looks up the caller's access key there)."""

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
