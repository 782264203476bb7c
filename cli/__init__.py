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

    from cli.standins.meta import MetaStandIn
    from cli.standins.slack import SlackStandIn
    from cli.standins.telegram import TelegramStandIn
    from cli.standins.x import XStandIn

    stand_in = {"telegram": TelegramStandIn, "slack": SlackStandIn, "x": XStandIn, "meta": MetaStandIn}[
        args.channel](port=args.port).start()
    use = {"telegram": f"TELEGRAM_API_URL={stand_in.url} TELEGRAM_BOT_TOKEN=123456:TEST",
           "slack": f"SLACK_API_URL={stand_in.url}/api/ SLACK_BOT_TOKEN=xoxb-test",
           "x": f"X_API_URL={stand_in.url} X_CONSUMER_KEY=k X_ACCESS_TOKEN=4337869213-t "
                f"X_ACCESS_TOKEN_SECRET=s",
           "meta": f"META_API_URL={stand_in.url} WHATSAPP_TOKEN=wa-test-token WHATSAPP_PHONE_NUMBER_ID=106540352242922 "
                   f"META_PAGE_TOKEN=page-test-token"}[args.channel]
    print(f"{args.channel} API stand-in on {stand_in.url}\n  use: {use} make dev\n"
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


def _slack_manifest(args) -> int:
    from cli.channels import slack_manifest

    print(slack_manifest(args.url), end="")
    return 0


def _post(args) -> int:
    from cli.channels import post

    return post(args.channel, args.file, args.url, args.thread, args.text)


def _ingest_email(args) -> int:
    from cli.channels import UsageError
    from cli.dev import configure_text_logging, dev_defaults, local_aws_environment
    from cli.email import ingest_bytes, read_mail
    from cli.jobs import dev_server, dev_url

    raw = read_mail(args.file)
    if not os.environ.get("AWS_ENDPOINT_URL"):   # a running `firstreply dev` takes it in its process
        base = dev_url(args.url)
        answer = dev_server(base, "/dev/ingest-email", raw, "message/rfc822")
        if answer is None:
            raise UsageError(f"no `firstreply dev` answers at {base} (start `make dev`, pass --url, or set "
                             "AWS_ENDPOINT_URL to an AWS stand-in)")
        print(f"ingested as SES message {answer['message_id']} by the dev server at {base}")
        return 0
    configure_text_logging()
    dev_defaults()
    local_aws_environment()
    print(f"ingested as SES message {ingest_bytes(raw)}")
    return 0


def _stats(args) -> int:
    from cli.stats import run

    return run(args.since, args.until, args.json)


def _agents(args) -> int:
    from cli.agents import run

    return run(args.action, args.name, args.email)


def _run_job(args) -> int:
    from cli.jobs import run

    return run(args.name, args.now, args.url)


def _package(args) -> int:
    from pathlib import Path

    from cli.package import build

    build(args.stage, Path(args.out).resolve())
    return 0


def _deploy(args) -> int:
    from cli.deploy import run

    from cli.channels import UsageError

    given = {}
    for pair in args.parameter or []:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise UsageError(f"--parameter takes NAME=VALUE (e.g. EnableEmail=false), got {pair!r}")
        given[key] = value
    named = {"SupportAddress": args.support_address, "SupportEmailFrom": args.support_from,
             "AlarmEmail": args.alarm_email}
    given.update({key: value for key, value in named.items() if value is not None})
    from cli.package import name_prefix

    # a stage's own stack unless told otherwise: `--stage staging` must never update prod's
    return run(args.stage, args.stack or name_prefix(args.stage), given, args.skip_package)


def _destroy(args) -> int:
    from cli.destroy import run
    from cli.package import name_prefix

    return run(args.stack or name_prefix(args.stage), args.delete_data, args.yes, name_prefix(args.stage))


def _register_webhooks(args) -> int:
    from cli.webhooks import run

    return run(args.url, args.secrets_path, args.telegram_group, args.config)


def _smoke(args) -> int:
    from cli.smoke import run

    return run(args.url, args.secrets_path, not args.no_email, args.email_from, args.stack)


def _dead_letters(args) -> int:
    from cli.dead_letters import run

    return run(args.replay, args.limit)


def _contact(args) -> int:
    from cli import contacts

    if args.contact_command == "export":
        return contacts.export(args.contact, args.out, args.with_notes)
    return contacts.forget(args.contact, args.yes)


def _audit(args) -> int:
    from cli.contacts import audit

    return audit(args.since, args.until, args.json)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="firstreply", description="Instant, personal first replies "
                                  "on Telegram, Slack, X and email, serverless on AWS.")
    top.add_argument("--stage", dest="target_stage", metavar="STAGE",
                     help="run the command on a deployed stage's table, queues and secrets path "
                     "(e.g. firstreply --stage staging dead-letters); default: the FIRSTREPLY_* environment, prod's names")
    commands = top.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run everything locally on an embedded AWS stand-in")
    dev.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    dev.add_argument("--config", default=os.environ.get("FIRSTREPLY_CONFIG", "firstreply.yaml"),
                     help="business settings file (default $FIRSTREPLY_CONFIG or firstreply.yaml)")
    dev.set_defaults(run=_dev)

    manifest = commands.add_parser("slack-manifest", help="print the Slack app manifest for your API URL")
    manifest.add_argument("--url", required=True, help="https base URL of the deployed API")
    manifest.set_defaults(run=_slack_manifest)

    post = commands.add_parser("post", help="post a payload to a running server, signed as the channel would")
    post.add_argument("channel", choices=["telegram", "slack", "x", "whatsapp", "messenger", "instagram"])
    post.add_argument("file", nargs="?", help="JSON payload file, or - for standard input")
    post.add_argument("--thread", default="", help="reply as an agent in this desk thread: slack CHANNEL:TS, "
                      "telegram GROUP:TOPIC")
    post.add_argument("--text", default="", help="with --thread: the agent's reply")
    post.add_argument("--url", default="http://127.0.0.1:8000", help="server (default http://127.0.0.1:8000)")
    post.set_defaults(run=_post)

    mail = commands.add_parser("ingest-email", help="feed a raw email through the path SES would take")
    mail.add_argument("file", help="an .eml file (raw RFC 5322 message)")
    mail.add_argument("--url", help="the running `firstreply dev` (default http://127.0.0.1:8000); with "
                      "AWS_ENDPOINT_URL set, the mail is handled in this process against that stand-in")
    mail.set_defaults(run=_ingest_email)

    job = commands.add_parser("run-job", help="run one scheduled function once (e.g. x-mentions)")
    job.add_argument("name")
    job.add_argument("--now", help="ISO 8601 time the job takes as now (default: the real time)")
    job.add_argument("--url", help="run it in the `firstreply dev` there (default: http://127.0.0.1:8000 if it "
                     "answers, else in this process)")
    job.set_defaults(run=_run_job)

    agents = commands.add_parser("agents", help="people who answer in the inbox: add (prints a personal token), "
                                 "list, revoke")
    agents.add_argument("action", choices=["add", "list", "revoke"])
    agents.add_argument("name", nargs="?", help="the agent's name, e.g. \"Olena Koval\"")
    agents.add_argument("--email", help="add: the agent's address (shown in the list)")
    agents.set_defaults(run=_agents)

    stats = commands.add_parser("stats", help="results per channel: conversations, acks, median time to ack, CSAT")
    stats.add_argument("--since", help="first day, YYYY-MM-DD (default: 30 days ago)")
    stats.add_argument("--until", help="last day, YYYY-MM-DD (default: today)")
    stats.add_argument("--json", action="store_true", help="the same figures as JSON")
    stats.set_defaults(run=_stats)

    package = commands.add_parser("package", help="write the deployment zip and CloudFormation template to build/")
    package.add_argument("--stage", help="the stage (default: firstreply --stage, else prod); every name the "
                         "stack creates carries it: firstreply-STAGE-… (prod keeps firstreply-…)")
    package.add_argument("--out", default="build", help="output folder (default build/)")
    package.set_defaults(run=_package)

    deploy = commands.add_parser("deploy", help="package and deploy to AWS with CloudFormation; prints the webhook URLs")
    deploy.add_argument("--stage", help="the stage (default: firstreply --stage, else prod): stages live side "
                        "by side in one account, each with its own names, secrets path and stack")
    deploy.add_argument("--stack", help="CloudFormation stack name (default firstreply for prod, "
                        "firstreply-STAGE for other stages)")
    deploy.add_argument("--support-address", help="the address customers write to, e.g. support@acme.example")
    deploy.add_argument("--support-from", help='the verified SES sender, e.g. "Acme Support <support@acme.example>"')
    deploy.add_argument("--alarm-email", help="who is emailed when an alarm fires")
    deploy.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                        help="any other stack parameter, e.g. EnableEmail=false, ApiReservedConcurrency=0 "
                        "(repeatable; kept on later deploys)")
    deploy.add_argument("--skip-package", action="store_true", help="deploy build/ as it is")
    deploy.set_defaults(run=_deploy)

    destroy = commands.add_parser("destroy", help="delete the stack; the table and the mail bucket are kept "
                                  "unless --delete-data")
    destroy.add_argument("--stage", help="the stage whose stack and data go (default: firstreply --stage, else prod)")
    destroy.add_argument("--stack", help="CloudFormation stack name (default firstreply for prod, "
                         "firstreply-STAGE for other stages)")
    destroy.add_argument("--delete-data", action="store_true", help="also delete the table and the mail bucket: "
                         "every conversation, for good (asks you to type the table's name)")
    destroy.add_argument("--yes", action="store_true", help="with --delete-data: do not ask")
    destroy.set_defaults(run=_destroy)

    secrets_help = "read secrets from SSM under this path (e.g. /firstreply/prod) rather than the environment"
    register = commands.add_parser("register-webhooks", help="point Telegram, X, WhatsApp and the Facebook page "
                                   "at the deployed API; print the Slack manifest")
    register.add_argument("--url", required=True, help="https base URL of the deployed API (EndpointURL)")
    register.add_argument("--secrets-path", help=secrets_help)
    register.add_argument("--telegram-group", help="the Telegram desk group to check (default: desk.telegram_group "
                          "of --config)")
    register.add_argument("--config", default=os.environ.get("FIRSTREPLY_CONFIG", "firstreply.yaml"),
                          help="business settings file (default $FIRSTREPLY_CONFIG or firstreply.yaml)")
    register.set_defaults(run=_register_webhooks)

    smoke = commands.add_parser("smoke", help="send signed and forged test requests to a deployed API; exit 1 on "
                                "any surprise")
    smoke.add_argument("--url", required=True, help="base URL of the API (EndpointURL, or http://127.0.0.1:8000)")
    smoke.add_argument("--secrets-path", help=secrets_help)
    smoke.add_argument("--email-from", help="the sender of the test mail to SES's simulator (default: "
                       "SUPPORT_EMAIL_FROM, else the stack's SupportEmailFrom)")
    smoke.add_argument("--stack", help="the stack whose SupportEmailFrom to use (default: the stage's, firstreply "
                       "for prod)")
    smoke.add_argument("--no-email", action="store_true", help="skip the email check")
    smoke.set_defaults(run=_smoke)

    dead = commands.add_parser("dead-letters", help="list the messages the worker gave up on; --replay sends them "
                               "back to the work queue")
    dead.add_argument("--replay", action="store_true", help="put them back on the work queue, then delete them here")
    dead.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    dead.set_defaults(run=_dead_letters)

    contact = commands.add_parser("contact", help="one customer's data: export it as JSON, or erase it")
    contact_commands = contact.add_subparsers(dest="contact_command", required=True)
    spec_help = "channel:id (telegram:42, email:olena@example.com), an email address, or a conversation reference"
    export = contact_commands.add_parser("export", help="everything held about the contact, as one JSON document")
    export.add_argument("contact", help=spec_help)
    export.add_argument("--with-notes", action="store_true", help="include the team's internal notes")
    export.add_argument("--out", help="write to this file (default: standard output)")
    forget = contact_commands.add_parser("forget", help="erase everything held about the contact")
    forget.add_argument("contact", help=spec_help)
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    contact.set_defaults(run=_contact)

    audit = commands.add_parser("audit", help="who on the team did what, when and from where")
    audit.add_argument("--since", help="first day, YYYY-MM-DD (default: 7 days ago)")
    audit.add_argument("--until", help="last day, YYYY-MM-DD (default: today)")
    audit.add_argument("--json", action="store_true", help="the entries as JSON")
    audit.set_defaults(run=_audit)

    standin = commands.add_parser("standin", help="run a local stand-in of a channel API")
    standin.add_argument("channel", choices=["telegram", "slack", "x", "meta"],
                         help="meta: the Graph API for WhatsApp, Messenger and Instagram")
    standin.add_argument("--port", type=int, default=8081)
    standin.set_defaults(run=_standin)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    resolve_stage(args)
    if args.target_stage:   # before any integrations module reads its names from the environment
        from cli.package import stage_names

        os.environ.update(stage_names(args.target_stage))
    return args.run(args)


def resolve_stage(args) -> None:
    """One stage per command: `firstreply --stage staging deploy` deploys staging, as
    `firstreply deploy --stage staging` does; naming two different stages is an error."""
    from cli.channels import UsageError
    from cli.package import DEFAULT_STAGE

    if "stage" in vars(args):
        if args.stage and args.target_stage and args.stage != args.target_stage:
            raise UsageError(f"two stages given: --stage {args.target_stage} and --stage {args.stage}")
        args.stage = args.stage or args.target_stage or DEFAULT_STAGE
    if "stack" in vars(args) and args.run is _smoke and not args.stack:
        from cli.package import name_prefix

        args.stack = name_prefix(args.target_stage or DEFAULT_STAGE)


if __name__ == "__main__":
    sys.exit(main())
