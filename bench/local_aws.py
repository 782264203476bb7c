"""What every in-process bench sets up first: the repository on the path, moto's fake credentials,
no stand-in endpoint from the caller's shell (moto runs in-process), and the bench's own variables.
Imported before anything reads the environment (the app reads some at import)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def prepare(**variables: str) -> Path:
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1",
                       "FIRSTREPLY_LOG_FORMAT": "text", **variables})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    return ROOT
