"""Cold start of the webhook path, measured in fresh interpreters (prints figures, asserts nothing).

Compares, as the median of several runs of a new `python -c …` process:
  baseline   import boto3 and create a DynamoDB client (the least any function here does)
  app        import app (what Lambda loads for every function of this Chalice app)
  telegram   import app + the Telegram webhook handler + the DynamoDB and SQS clients its first
             request creates: the whole cold path of a Telegram delivery before any network I/O
  slack      the same for the Slack Events webhook (slack_sdk's signature verifier included)
  x          the same for the X webhook
  whatsapp   the same for /webhooks/whatsapp (its converters; pywa stays in the worker)
  meta       the same for /webhooks/meta (Messenger and Instagram)
Target: every webhook path within 1.5× of the baseline.

    .venv/bin/python bench/cold_start.py [--runs 9]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "baseline": "import boto3; boto3.client('dynamodb', region_name='us-east-1')",
    "app": "import app",
}
CLIENTS = "from integrations import aws; aws.client('dynamodb'); aws.client('sqs')"
for _channel, _module, _extra in (("telegram", "telegram_webhook", ""),
                                  ("slack", "slack_webhook", "import slack_sdk.signature; "),
                                  ("x", "x_webhook", ""),
                                  ("whatsapp", "meta_webhook", "from integrations import whatsapp; "),
                                  ("meta", "meta_webhook", "")):
    CASES[_channel] = f"import app; from functions.handlers import {_module}; {_extra}{CLIENTS}"
WEBHOOKS = ("telegram", "slack", "x", "whatsapp", "meta")
HEAVY = ("telegram", "jinja2", "babel", "holidays", "yaml", "tweepy", "requests", "moto", "pywa", "httpx")


def once(code: str) -> float:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    for code in CASES.values():   # warm the file cache and the bytecode cache once
        once(code)
    medians = {}
    for name, code in CASES.items():
        medians[name] = statistics.median(once(code) for _ in range(runs))
    base = medians["baseline"]
    print(f"cold start, median of {runs} fresh interpreters ({sys.version.split()[0]}):")
    for name, value in medians.items():
        print(f"  {name:<9} {value * 1000:7.1f} ms   {value / base:4.2f}× baseline")
    for channel in WEBHOOKS:
        probe = (f"import sys; {CASES[channel]}; "
                 f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
        loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}).stdout.strip()
        print(f"  heavy modules on the {channel} webhook path: {loaded}")
    worst = max(medians[name] for name in ("app", *WEBHOOKS)) / base
    print(f"  target ≤ 1.50×: {'met' if worst <= 1.5 else 'MISSED'} (worst {worst:.2f}×)")


if __name__ == "__main__":
    main()
