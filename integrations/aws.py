"""boto3 clients, created lazily and once per container (or process).

`AWS_ENDPOINT_URL` (read by boto3 itself) points every client at a stand-in such as moto.
"""
from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def region() -> str:
    """Lambda sets AWS_REGION; on a laptop the profile's region (~/.aws/config) counts too."""
    configured = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if configured:
        return configured
    import boto3

    return boto3.session.Session().region_name or "us-east-1"


def client(service: str) -> Any:
    key = f"{service}|{region()}|{os.environ.get('AWS_ENDPOINT_URL', '')}"
    found = _clients.get(key)
    if found is None:
        with _lock:   # boto3's default session is not safe to create clients from two threads
            found = _clients.get(key)
            if found is None:
                import boto3

                found = _clients[key] = boto3.client(service, region_name=region())
    return found


def reset_clients() -> None:
    """Forget cached clients (tests and the dev server switch endpoints)."""
    _clients.clear()
