"""The `firstreply` command."""
from __future__ import annotations

import argparse
import os
import sys


def _dev(args) -> int:
    from cli import dev

    dev.run(args.port, args.config)
    return 0


def _standin(args) -> int:
    import time

    from cli.standins.telegram import TelegramStandIn

    stand_in = TelegramStandIn(port=args.port).start()
    print(f"Telegram Bot API stand-in on {stand_in.url}\n"
          f"  use: TELEGRAM_API_URL={stand_in.url} TELEGRAM_BOT_TOKEN=123456:TEST make dev\n"
          f"  calls received: {stand_in.url}/_calls\nCtrl-C stops.", flush=True)
    try:
        seen = 0
        while True:
            time.sleep(0.3)
            for call in stand_in.calls[seen:]:
                print(f"{call.method} {call.params}", flush=True)
            seen = len(stand_in.calls)
    except KeyboardInterrupt:
        stand_in.stop()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="firstreply", description="Instant, personal first replies "
                                  "on Telegram, Slack, X and email, serverless on AWS.")
    commands = top.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run everything locally on an embedded AWS stand-in")
    dev.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    dev.add_argument("--config", default=os.environ.get("FIRSTREPLY_CONFIG", "firstreply.yaml"),
                     help="business settings file (default $FIRSTREPLY_CONFIG or firstreply.yaml)")
    dev.set_defaults(run=_dev)

    standin = commands.add_parser("standin", help="run a local stand-in of a channel API")
    standin.add_argument("channel", choices=["telegram"])
    standin.add_argument("--port", type=int, default=8081)
    standin.set_defaults(run=_standin)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
