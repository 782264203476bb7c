"""`firstreply dev` as a new user runs it: a real process, real HTTP, embedded moto, Ctrl-C."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


from conftest import ROOT, load_fixture

FIRSTREPLY = str(Path(sys.executable).parent / "firstreply")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dev_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "SLACK_", "X_", "FIRSTREPLY_", "AWS_", "PTB_"))}
    env.update(extra)
    return env


def start(port, env, *args):
    process = subprocess.Popen([FIRSTREPLY, "dev", "--port", str(port), *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox", timeout=2)
            return process
        except OSError:   # refused, or bound but not serving yet (moto still starting)
            time.sleep(0.2)
    process.kill()
    raise AssertionError("dev server did not start")


def post(port, update, secret):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/telegram", data=json.dumps(update).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def stop(process) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert "firstreply dev: stopped" in out
    return out


def test_dev_sends_through_the_bot_api_with_a_token(telegram_api):
    telegram_api.reset()
    port = free_port()
    process = start(port, dev_env(TELEGRAM_BOT_TOKEN="42:DEV", TELEGRAM_API_URL=telegram_api.url,
                                  TELEGRAM_WEBHOOK_SECRET="local-secret"))
    try:
        update = load_fixture("telegram", "text_private")
        assert post(port, update, "wrong") == 401
        assert post(port, update, "local-secret") == 200
        assert post(port, update, "local-secret") == 200        # duplicate
        [call] = telegram_api.wait_for(1)
        assert call.token == "42:DEV" and call.params["text"].startswith("Вітаємо, Olena!")
        time.sleep(1.5)
        assert len(telegram_api.sent()) == 1
    finally:
        out = stop(process)
    assert "embedded moto" in out


def test_dev_without_a_token_shows_replies_in_the_outbox():
    port = free_port()
    process = start(port, dev_env())
    try:
        update = load_fixture("telegram", "text_private")
        update["message"]["from"]["language_code"] = "tr"
        assert post(port, update, "dev-secret") == 200
        deadline, messages = time.monotonic() + 15, []
        while time.monotonic() < deadline and not messages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox") as response:
                messages = json.load(response)["messages"]
            time.sleep(0.2)
        assert messages and messages[0]["text"].startswith("Merhaba Olena!")
        page = urllib.request.Request(f"http://127.0.0.1:{port}/dev/outbox", headers={"Accept": "text/html"})
        with urllib.request.urlopen(page) as response:
            html = response.read().decode()
        assert "Merhaba Olena!" in html and "“<i>Коли буде доставка" in html
        # Slack and X, signed by `firstreply post` with the dev secrets, end in the outbox too
        for channel, fixture in (("slack", "slack/message_im.json"), ("x", "x/aaa_dm.json")):
            posted = subprocess.run([FIRSTREPLY, "post", channel, str(ROOT / "tests/fixtures" / fixture),
                                     "--url", f"http://127.0.0.1:{port}"], env=dev_env(),
                                    capture_output=True, text=True, timeout=30)
            assert posted.returncode == 0 and posted.stdout.startswith("200 "), posted.stdout + posted.stderr
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(messages) < 3:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox") as response:
                messages = json.load(response)["messages"]
            time.sleep(0.2)
        by_channel = {m["channel"]: m for m in messages}
        assert set(by_channel) == {"telegram", "slack", "x"}, messages
        assert by_channel["slack"]["thread_id"] == "1763805600.000200"
        assert by_channel["x"]["text"].startswith("Merhaba Mehmet!")
    finally:
        out = stop(process)
    assert "outbox telegram → 1111111" in out        # logged as well
    # no admin token configured: one is made up for this run and printed
    token = re.search(r"admin: +http://\S+/admin +token: (\S+) \(generated", out)
    assert token and len(token.group(1)) >= 20, out


def test_bad_settings_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("business:\n  name: Acme\nhours:\n  mon: ['9-5']\n")
    result = subprocess.run([FIRSTREPLY, "dev", "--port", str(free_port()), "--config", str(bad)],
                            cwd=ROOT, env=dev_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip() == ("firstreply dev: bad settings file: hours.mon[0]: "
                                     "expected \"HH:MM-HH:MM\", got '9-5'")


def test_port_in_use_is_a_one_line_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([FIRSTREPLY, "dev", "--port", str(port)], cwd=ROOT, env=dev_env(),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"firstreply dev: cannot listen on 127.0.0.1:{port}")


def test_ingest_email_against_dev_on_an_aws_stand_in_it_did_not_start(tmp_path):
    """`AWS_ENDPOINT_URL` set: dev prepares that stand-in fully (table, queues, bucket, topic,
    verified sender), and `firstreply ingest-email` feeds mail through it."""
    import boto3
    from moto.server import ThreadedMotoServer

    aws_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{aws_port}"
    env = dev_env(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                  AWS_DEFAULT_REGION="us-east-1", SUPPORT_EMAIL_FROM="Acme Support <help@acme.example>")
    port = free_port()
    process = start(port, env)
    try:
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                        region_name="us-east-1")
        assert session.client("dynamodb", endpoint_url=endpoint).describe_table(TableName="firstreply")
        session.client("s3", endpoint_url=endpoint).head_bucket(Bucket="firstreply-inbound-mail")
        topics = session.client("sns", endpoint_url=endpoint).list_topics()["Topics"]
        assert any(t["TopicArn"].endswith(":firstreply-inbound-mail") for t in topics)
        identities = session.client("ses", endpoint_url=endpoint).list_identities()["Identities"]
        assert "help@acme.example" in identities
        # to this dev server, not to whatever listens on the default :8000 (a developer's `make dev`)
        result = subprocess.run([FIRSTREPLY, "ingest-email", str(ROOT / "tests/fixtures/email/koi8r_russian.eml")],
                                cwd=ROOT, env={**env, "FIRSTREPLY_DEV_URL": f"http://127.0.0.1:{port}"},
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ingested as SES message ")
        deadline, messages = time.monotonic() + 15, []
        while time.monotonic() < deadline and not messages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/outbox") as response:
                messages = [m for m in json.load(response)["messages"] if m["channel"] == "email"]
            time.sleep(0.2)
        assert messages and messages[0]["fallback"].startswith("Здравствуйте, Пётр!")
        assert messages[0]["details"]["to"] == "petr@old.example.ru"
    finally:
        stop(process)
        moto.stop()


def test_jobs_and_mail_from_a_second_terminal_run_in_the_dev_server_with_nothing_exported():
    """`firstreply run-job` and `ingest-email` in another terminal, nothing exported: they run in
    the dev server (its dev signing secret, sender, AWS stand-in), and a chat survey sent that way
    is on /dev/outbox."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    port = free_port()
    process = start(port, dev_env())
    url = f"http://127.0.0.1:{port}"

    def cli(*args, ok=True):
        result = subprocess.run([FIRSTREPLY, *args, "--url", url], cwd=ROOT, env=dev_env(), capture_output=True,
                                text=True, timeout=120)
        assert (result.returncode == 0) is ok, result.stdout + result.stderr
        return result

    def outbox(channel):
        with urllib.request.urlopen(f"{url}/dev/outbox") as response:
            return [m for m in json.load(response)["messages"] if m["channel"] == channel]

    def wait_for(channel, count):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(outbox(channel)) < count:
            time.sleep(0.2)
        return outbox(channel)

    try:
        assert post(port, load_fixture("telegram", "text_private"), "dev-secret") == 200
        assert len(wait_for("telegram", 1)) == 1                                   # the acknowledgement
        assert "by the dev server at" in cli("ingest-email", str(ROOT / "tests/fixtures/email/gmail.eml")).stdout
        assert len(wait_for("email", 1)) == 1                                      # its reply, through SES

        # a few days on, at noon in Kyiv (the customers' daytime, whichever clock counts)
        kyiv = ZoneInfo("Europe/Kyiv")
        noon = (datetime.now(kyiv) + timedelta(days=4)).replace(hour=12, minute=0, second=0, microsecond=0)
        at = lambda minutes: (noon + timedelta(minutes=minutes)).astimezone(timezone.utc).isoformat()
        def job(name, minutes):
            out = cli("run-job", name, "--now", at(minutes)).stdout
            assert f"{name} ran in the dev server at {url}" in out
            return json.loads(out.splitlines()[-1])

        assert job("close-idle", 0) == {"done": 2, "skipped": {}, "failed": 0}
        # the email's transcript (a signed unsubscribe link, from the dev sender); the chat has no address
        assert job("transcripts", 1) == {"done": 1, "skipped": {"no address": 1}, "failed": 0}
        assert job("surveys", 90) == {"done": 2, "skipped": {}, "failed": 0}
        [ack, survey] = wait_for("telegram", 2)[::-1]                                 # newest first
        assert survey["chat_id"] == ack["chat_id"] and "1" in survey["text"] and survey != ack

        unknown = cli("run-job", "nope", ok=False)
        assert "no job 'nope'" in unknown.stderr and "surveys" in unknown.stderr
    finally:
        stop(process)
