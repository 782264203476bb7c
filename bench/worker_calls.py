"""AWS calls the worker makes per Telegram message, by scenario (prints counts, not times).

In Lambda every call is a round trip (a few ms each) and botocore's work on the CPU (validating,
signing, parsing): the number of calls a message costs is what the worker's latency is made of. The
queue's receive and delete are the event source mapping's, not the function's: not counted. moto
runs in-process, the Bot API stand-in answers the sends.

  first         a new customer's first message, alone in its batch (acknowledged)
  follow-up     the same customer again, in the open conversation (no acknowledgement)
  first+sla     a first message with SLA targets and a keyword rule that makes it urgent
  burst of 10   ten new customers in one batch (Lambda's batch size), per message

    .venv/bin/python bench/worker_calls.py [--tree PATH]
(--tree counts another checkout of firstreply, e.g. the commit before a change.)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from local_aws import prepare

ROOT = prepare(TELEGRAM_WEBHOOK_SECRET="bench", TELEGRAM_BOT_TOKEN="1:BENCH", PTB_TIMEDELTA="1")
# not the worker's: the event source mapping's calls, and what count_reads adds beside the operations
NOT_COUNTED = {"ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "items", "scans", "aws_ms"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, default=ROOT)
    args = parser.parse_args()
    tree = args.tree.resolve()
    sys.path[:0] = [str(tree), str(tree / "tests")]

    import logging

    import yaml

    logging.basicConfig(level=logging.WARNING)
    from cli.standins.telegram import TelegramStandIn
    from local_aws import count_reads, fresh_app

    calls: Counter = Counter()
    count_reads(calls)   # each operation's calls (and reads, which are not printed here)
    stand_in = TelegramStandIn().start()
    import os

    os.environ["TELEGRAM_API_URL"] = stand_in.url
    template = json.loads((tree / "tests/fixtures/telegram/text_private.json").read_text())
    settings = yaml.safe_load((tree / "firstreply.yaml").read_text())
    with_sla = {**settings, "sla": {"first_response": {"urgent": "30m", "normal": "8h"}},
                "priority_rules": {"keywords": {"urgent": ["urgent"]}}}

    def update(n: int, customer: int, text: str = "Where is my order?") -> dict:
        found = json.loads(json.dumps(template))
        found["update_id"] = 910000000 + n
        found["message"]["message_id"] = 1000 + n
        found["message"]["from"]["id"] = found["message"]["chat"]["id"] = 6000000 + customer
        found["message"]["text"] = text
        return found

    def run(settings_data: dict, batches: list[list[dict]], counted_from: int = 0) -> dict[str, float]:
        """The worker's calls per message over the given batches (each posted, then pumped once),
        from batch `counted_from` on (the ones before set the scene)."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
            yaml.safe_dump(settings_data, file)
            file.flush()
            with fresh_app(Path(file.name)) as (client, pump):
                from functions.handlers import worker

                worker.store().load_settings()   # a warm container's: read every 30 s, not per message
                counted: Counter = Counter()
                messages = 0
                for place, batch in enumerate(batches):
                    for one in batch:
                        response = client.http.post("/webhooks/telegram", body=json.dumps(one).encode(), headers={
                            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "bench"})
                        assert response.status_code == 200
                    calls.clear()
                    assert pump.pump_once() == len(batch)
                    if place >= counted_from:
                        counted.update({k: v for k, v in calls.items() if k not in NOT_COUNTED})
                        messages += len(batch)
        return {operation: count / messages for operation, count in sorted(counted.items())}

    scenarios = {
        "first": run(settings, [[update(n, n)] for n in range(10)]),
        "follow-up": run(settings, [[update(0, 0)]] + [[update(n, 0, f"and {n}")] for n in range(1, 11)], 1),
        "first+sla": run(with_sla, [[update(n, n, "urgent: where is my order?")] for n in range(10)]),
        "burst of 10": run(settings, [[update(10 * b + n, 10 * b + n) for n in range(10)] for b in range(3)]),
    }
    stand_in.stop()
    print(f"AWS calls of the worker per message ({tree}):")
    for name, per_message in scenarios.items():
        total = sum(per_message.values())
        detail = "  ".join(f"{operation} {count:.2f}" for operation, count in per_message.items())
        print(f"  {name:<12} {total:5.2f}   {detail}")


if __name__ == "__main__":
    main()
