"""Slack: signature check and pure converters for the Events API, and a sender on slack-sdk.

The webhook side uses only the standard library (the signature is an HMAC); the Web API client is
imported when the worker sends or looks a user up.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from functions import jsonbody, models
from functions.clock import iso
from functions.models import InboundMessage
from functions.ports import SendError

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

CHANNEL = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
SECTION_LIMIT = 3000   # characters of mrkdwn in one section block
SIGNATURE_WINDOW_SECONDS = 300
SLACKBOT = "USLACKBOT"
# Message subtypes that are a person writing; every other subtype is an edit, a deletion, a join,
# a bot or some other system message (https://api.slack.com/events/message#subtypes).
PEOPLE_SUBTYPES = ("file_share", "thread_broadcast")
FILE_NAMES = 10   # file names kept with a message (a message carries at most 10 files)


class MalformedEvent(ValueError):
    """Signed, but not an Events API payload we can read."""


class Ignored(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def verify(headers: Any, raw_body: bytes, signing_secret: str | None, now: float | None = None) -> bool:
    """`X-Slack-Signature` over the raw body with the signing secret, within Slack's 5 minutes.

    The standard library's HMAC, as slack-sdk's `SignatureVerifier` computes it, but without
    importing slack_sdk (whose package imports the whole Web API client: 44 ms of cold start) and
    refusing header values it would crash on: `int("¹²")` after `isdigit()`, and
    `hmac.compare_digest` of a non-ASCII str (TypeError)."""
    if not signing_secret:
        return False
    timestamp = headers.get("x-slack-request-timestamp") or ""
    supplied = headers.get("x-slack-signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not supplied:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return False
    expected = "v0=" + hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + raw_body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), supplied.encode("utf-8", "replace"))


# Slack's ids (U…, W…, C…, D…, Ev…) and message timestamps ("1763805600.000200"), as documented;
# anything else in those fields is not an Events API payload (and would become a storage key).
_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_TS = re.compile(r"[0-9]{1,10}\.[0-9]{1,9}")


def _ts_to_iso(ts: Any) -> str:
    if not _ts_ok(ts):
        return iso(datetime.now(timezone.utc))
    return iso(datetime.fromtimestamp(float(ts), timezone.utc))


def _ts_ok(value: Any) -> bool:
    return isinstance(value, str) and _TS.fullmatch(value) is not None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _object(value: Any, what: str) -> dict:
    return jsonbody.optional_object(value, what, MalformedEvent)


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedEvent(f"{what} is not a list")
    return value


def _id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MalformedEvent(f"{what} is not a Slack id")
    return value


def _ts(value: Any, what: str) -> str:
    if not _ts_ok(value):
        raise MalformedEvent(f"{what} is not a Slack timestamp")
    return value


_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def plain(text: str) -> str:
    """Slack's message markup as a person reads it: user mentions dropped (the bot's own, usually),
    `<#C1|general>` → "#general", `<https://x|label>` → "label", entities decoded."""
    def readable(m: re.Match) -> str:
        sigil, target, label = m.group(1), m.group(2), m.group(3)
        if sigil == "@":
            return ""
        if sigil == "#":
            return f"#{label or target}"
        if sigil == "!":
            return f"@{label or target.split('^')[0]}"
        return label or target
    text = _MARKUP.sub(readable, text)
    return " ".join(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


def _file_names(files: Any) -> list[str]:
    """Names of the files shared with a message. Over Slack Connect a file from another
    organisation may come as a stub (`file_access: check_file_info`) without a name."""
    names = []
    for item in _list(files, "files"):
        item = _object(item, "a file")
        name = _str(item.get("name")) or _str(item.get("title"))
        if name:
            names.append(name[:200])
    return names[:FILE_NAMES]


def to_inbound(payload: Any) -> InboundMessage:
    """An `event_callback` payload → `InboundMessage`; `Ignored` for what gets no answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedEvent("not an Events API payload")
    if payload["type"] != "event_callback":
        raise Ignored(f"payload type {payload['type']}")
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id:
        raise MalformedEvent("event_callback without event or event_id")
    _id(event_id, "event_id")
    kind = _str(event.get("type"))
    if kind not in ("message", "app_mention"):
        raise Ignored(f"event type {kind or 'missing'}")
    # Machines first: bots and workflows (bot_id, often with subtype bot_message), apps posting
    # with their own user (app_id), Slackbot's reminders and notices. None of them is a customer.
    if event.get("bot_id") or event.get("bot_profile"):
        raise Ignored("bot message")
    if event.get("app_id"):
        raise Ignored("app message")
    if event.get("user") == SLACKBOT:
        raise Ignored("Slackbot")
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        raise MalformedEvent("subtype is not a string")
    if subtype and subtype not in PEOPLE_SUBTYPES:
        raise Ignored(f"subtype {subtype}")
    if event.get("edited"):   # an app_mention re-sent because its message was edited
        raise Ignored("edited message")
    user, channel = _id(event.get("user"), "user"), _id(event.get("channel"), "channel")
    ts = _ts(event.get("ts"), "ts")
    thread_ts = _ts(event["thread_ts"], "thread_ts") if event.get("thread_ts") is not None else ts
    text = event.get("text")
    if text is not None and not isinstance(text, str):
        raise MalformedEvent("text is not a string")
    files = _file_names(event.get("files")) if subtype == "file_share" or "files" in event else []
    own = {a.get("user_id") for a in _list(payload.get("authorizations"), "authorizations")
           if isinstance(a, dict)}
    if user in own:
        raise Ignored("our own bot user")
    if kind == "message" and event.get("channel_type") != "im":
        raise Ignored("channel message without a mention")   # mentions arrive as app_mention
    # A DM channel is one conversation; in shared channels each mention's thread is one.
    chat_id = channel if kind == "message" else f"{channel}:{thread_ts}"
    shared_files = subtype == "file_share" or bool(event.get("files"))
    return InboundMessage(
        channel=CHANNEL, event_id=event_id, chat_id=chat_id, sender_id=user, message_id=ts,
        received_at=_ts_to_iso(ts), text=plain(text or ""), media="document" if shared_files else "",
        chat_type="im" if kind == "message" else "mention", thread_id=thread_ts,
        details={"files": files} if files else {},
    )


def parse_interaction(raw_body: bytes) -> dict[str, Any]:
    """The form-encoded `payload` of an interactivity request, as a dict."""
    try:
        # strict: a percent-encoded byte that is not UTF-8 is not Slack's (the default replaces it)
        fields = parse_qs(raw_body.decode("utf-8"), strict_parsing=True, errors="strict")
        payload = jsonbody.loads(fields["payload"][0])
    except (UnicodeError, ValueError, KeyError, IndexError):   # jsonbody.BadBody is a ValueError
        raise MalformedEvent("interactivity body without a JSON payload field") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedEvent("interactivity payload without a type")
    for name in ("user", "container", "channel", "team"):
        _object(payload.get(name), name)
    for action in _list(payload.get("actions"), "actions"):
        _object(action, "an action")
    return payload


def _escape(text: str) -> str:
    """Slack's three entities: `<` and `>` would start live markup (`<!channel>`, `<@U…>`,
    `<url|label>`), `&` an entity. Slack parses mrkdwn in a message's `text` as well as in blocks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def survey_answer(payload: dict[str, Any]) -> InboundMessage | None:
    """A click on one of our rating buttons, as an inbound event for the worker; None otherwise.
    `payload` is what `parse_interaction` returned (its objects are objects)."""
    if payload.get("type") != "block_actions":
        return None
    action = next((a for a in payload.get("actions") or []
                   if isinstance(a.get("value"), str) and a["value"].startswith(("csat:", "nps:"))), None)
    user = (payload.get("user") or {}).get("id")
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    if not action or not user or not channel or not container.get("message_ts"):
        return None
    user, channel = _id(user, "user.id"), _id(channel, "channel")
    message_ts = _ts(container["message_ts"], "container.message_ts")
    action_ts = _ts(action["action_ts"], "action_ts") if action.get("action_ts") is not None else message_ts
    return InboundMessage(
        channel=CHANNEL, event_id=f"action-{user}-{action_ts}",
        chat_id=channel, sender_id=user, message_id=message_ts,
        received_at=_ts_to_iso(action_ts), text=action["value"][:64], chat_type="answer")


def api_url() -> str:
    url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def _keep_alive_client():
    """slack-sdk's WebClient, sending over one kept-alive connection per client instead of a new
    one per call: its urllib transport sends `Connection: close` every time (a TCP and TLS
    handshake per message). Only the transport step is replaced; building the request, retries,
    errors and SlackResponse stay slack-sdk's (the version is pinned; tests send through it)."""
    global _KeepAliveClient
    if _KeepAliveClient is None:
        import http.client
        import urllib.parse

        from slack_sdk import WebClient

        class KeepAliveClient(WebClient):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._connection: http.client.HTTPConnection | None = None
                self._connection_lock = threading.Lock()

            def _perform_urllib_http_request_internal(self, url, req):
                target = urllib.parse.urlsplit(url)
                if target.scheme not in ("http", "https") or self.proxy is not None:
                    return super()._perform_urllib_http_request_internal(url, req)
                with self._connection_lock:   # one request at a time on the one connection
                    while True:
                        reused = self._connection is not None
                        connection = self._connection or self._open(target)
                        try:
                            connection.request(req.get_method(), req.selector, body=req.data,
                                               headers=dict(req.header_items()))
                            response = connection.getresponse()
                            body = response.read()
                        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                            connection.close()
                            self._connection = None
                            if not reused:
                                raise
                            continue   # the server had closed the idle connection: again on a new one
                        except Exception:
                            connection.close()
                            self._connection = None
                            raise
                        if response.will_close:
                            connection.close()
                            self._connection = None
                        charset = response.headers.get_content_charset() or "utf-8"
                        return {"status": response.status, "headers": response.headers,
                                "body": body if response.headers.get_content_type() == "application/gzip"
                                else body.decode(charset)}

            def _open(self, target):
                if target.scheme == "https":
                    connection = http.client.HTTPSConnection(target.netloc, timeout=self.timeout,
                                                             context=self.ssl)
                else:
                    connection = http.client.HTTPConnection(target.netloc, timeout=self.timeout)
                self._connection = connection
                return connection

        _KeepAliveClient = KeepAliveClient
    return _KeepAliveClient


_KeepAliveClient = None
_own_user: dict[str, str] = {}
_own_lock = threading.Lock()


class SlackSender:
    def __init__(self, token: str, base_url: str | None = None, timeout: int = 10):
        self.token = token
        self.client = _keep_alive_client()(token=token, base_url=base_url or api_url(), timeout=timeout)

    def _call(self, method: str, **kwargs) -> Any:
        from slack_sdk.errors import SlackApiError

        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
                raise SendError(f"rate limited on {method}", retryable=True, retry_after=retry_after) from exc
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise SendError(f"{method}: {error or status}", retryable=status >= 500) from exc
        except OSError as exc:   # connection refused, reset, timeout (urllib)
            raise SendError(f"{method}: {exc}", retryable=True) from exc

    def send(self, ack: Acknowledgement) -> SentMessage:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": ack.text[:SECTION_LIMIT]}}]
        channel = ack.chat_id.split(":")[0]
        # The notification text is plain text that Slack parses as mrkdwn: escaped like the blocks
        # (an ack without a fallback has only the mrkdwn, escaped already).
        text = _escape(ack.fallback) if ack.fallback else ack.text
        response = self._call("chat_postMessage", channel=channel, text=text,
                              blocks=blocks, thread_ts=ack.thread_id or None,
                              unfurl_links=False, unfurl_media=False)
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=response["ts"],
                                  sent_at=_ts_to_iso(response["ts"]), text=ack.text)

    def send_survey(self, request) -> str:
        """The question with a button per score; each button's value is `<kind>:<conversation>:<score>`."""
        buttons = [{"type": "button", "action_id": f"{request.kind}-{n}",
                    "value": f"{request.kind}:{request.conversation_id}:{n}",
                    "text": {"type": "plain_text", "text": str(n)}} for n in request.scale]
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": request.text[:SECTION_LIMIT]}}]
        if buttons:
            blocks.append({"type": "actions", "block_id": request.kind, "elements": buttons})
        response = self._call("chat_postMessage", channel=request.chat_id.split(":")[0], text=_escape(request.plain),
                              blocks=blocks, thread_ts=request.thread_id or None)
        return response["ts"]

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        """Replace the buttons with the answer, so the question cannot look unanswered."""
        self._call("chat_update", channel=inbound.chat_id, ts=inbound.message_id, text=_escape(text),
                   blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": _escape(text)}}])

    def is_own(self, user_id: str) -> bool:
        """Our own bot user (auth.test, cached per token and container)."""
        with _own_lock:
            own = _own_user.get(self.token)
        if own is None:
            own = self._call("auth_test").get("user_id", "")
            with _own_lock:
                _own_user[self.token] = own
        return user_id == own

    def profile(self, user_id: str) -> dict[str, str]:
        """Name and locale from users.info (include_locale)."""
        user = self._call("users_info", user=user_id, include_locale=True).get("user") or {}
        profile = user.get("profile") or {}
        name = _str(profile.get("real_name")) or _str(user.get("real_name")) or _str(user.get("name"))
        first = _str(profile.get("first_name")) or (name.split()[0] if name.strip() else "")
        # `tz` is the user's own IANA zone (issue 15: the customer's clock for surveys, transcripts)
        return {"first_name": first, "name": name, "language_code": _str(user.get("locale")),
                "timezone": _str(user.get("tz"))[:64]}
