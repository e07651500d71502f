"""The unit tests' own AWS clients (to arrange and read what the handlers met), one per service and
process: making a client costs about 10 ms of CPU, and there were about 550 of them. moto's mock
answers every client made after moto was imported, whichever test made it; the handlers still make
their own clients, in each test."""

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    return boto3.client(service)
