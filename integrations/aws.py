"""AWS clients, created lazily and once per container (or process).

botocore's session makes them, not boto3's: a function only needs low-level clients, and importing
boto3 (its resources, s3transfer) costs a cold start ~14 ms for nothing (bench/compare.py).
`AWS_ENDPOINT_URL` (read by botocore itself) points every client at a stand-in such as moto.

A client is made with the cyclic garbage collector paused: botocore builds it from its JSON service
model (S3's is the largest: the email function reads the raw mail with it), tens of thousands of
long-lived objects that the collector would walk again and again while they are made, for nothing
to free (~25 ms of the email function's cold start, bench/compare.py). It runs again right after.
"""
from __future__ import annotations

import gc
import os
import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_session: list[Any] = []


def session() -> Any:
    if not _session:
        import botocore.session

        _session.append(botocore.session.get_session())
    return _session[0]


def region() -> str:
    """Lambda sets AWS_REGION; on a laptop the profile's region (~/.aws/config) counts too."""
    configured = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if configured:
        return configured
    return session().get_config_variable("region") or "us-east-1"


def client(service: str) -> Any:
    key = f"{service}|{region()}|{os.environ.get('AWS_ENDPOINT_URL', '')}"
    found = _clients.get(key)
    if found is None:
        with _lock:   # a botocore session is not safe to create clients from two threads
            found = _clients.get(key)
            if found is None:
                collecting = gc.isenabled()
                gc.disable()
                try:
                    found = _clients[key] = session().create_client(service, region_name=region())
                finally:
                    if collecting:
                        gc.enable()
    return found


def reset_clients() -> None:
    """Forget cached clients (tests and the dev server switch endpoints)."""
    _clients.clear()
