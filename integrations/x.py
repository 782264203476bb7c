"""X (Twitter): CRC and signature checks and pure converters for DM webhooks (Account Activity and
X Activity API payloads), and a sender and mentions reader on tweepy.

tweepy has no host setting: `XClient` points its requests session at `X_API_URL` when set, so the
same code talks to a local stand-in in development and tests.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from functions import jsonbody
from functions.clock import iso, iso_from_text
from functions import models
from functions.models import InboundMessage
from functions.ports import SendError
from integrations import secrets

if TYPE_CHECKING:   # annotations only: the worker's models load when a sender makes one
    from functions.models import Acknowledgement, SentMessage

CHANNEL = "x"
REAL_HOST = "https://api.twitter.com"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
TWEET_LIMIT = 280


class MalformedEvent(ValueError):
    pass


def signature(secret: str, data: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha256).digest()).decode()


# X's CRC tokens are short URL-safe base64 (older ones UUIDs): letters, digits, "-", "_" and, in
# case X ever sends standard base64, "+", "/" and "=" padding. Anything else is not X asking.
# This matters because the CRC answer is the same HMAC as the events' signature: an endpoint that
# signs any token signs any forged event body. No JSON can be written in this alphabet (no "{",
# '"' or ":"), so what the CRC signs can never verify as an event.
_CRC_TOKEN = re.compile(r"[A-Za-z0-9_\-+/]{1,120}={0,2}")


def crc_token_ok(token: Any) -> bool:
    return isinstance(token, str) and _CRC_TOKEN.fullmatch(token) is not None


def crc_response(crc_token: str, consumer_secret: str) -> dict[str, str]:
    if not crc_token_ok(crc_token):
        raise MalformedEvent("crc_token is not shaped like X's")
    return {"response_token": signature(consumer_secret, crc_token.encode())}


def verify(headers: Any, raw_body: bytes, consumer_secret: str | None) -> bool:
    supplied = headers.get(SIGNATURE_HEADER) or ""
    if not consumer_secret or not supplied:
        return False
    return hmac.compare_digest(supplied.encode("utf-8", "replace"), signature(consumer_secret, raw_body).encode())


# -- converters: every field checked for the type X documents; anything else is MalformedEvent (400)
_ID = re.compile(r"[0-9]{1,20}")
_EARLIEST, _LATEST = datetime(2006, 3, 21, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)


def _object(value: Any, what: str) -> dict:
    return jsonbody.optional_object(value, what, MalformedEvent)


def _id(value: Any, what: str, required: bool = True) -> str:
    """X ids are numbers written as strings (snowflakes, < 2**64): 20 digits at most."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    if value in (None, "") and not required:
        return ""
    raise MalformedEvent(f"{what} is not an X id")


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} is not a string")
    return value


def _in_range(moment: datetime, what: str) -> str:
    if not _EARLIEST <= moment <= _LATEST:
        raise MalformedEvent(f"{what} is out of range")
    return iso(moment)


def _iso_from_ms(value: Any) -> str:
    """Account Activity's `created_timestamp`: epoch milliseconds, as a string of digits."""
    if value is None or value == "":
        return iso(datetime.now(timezone.utc))
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10 ** 16:
        raise MalformedEvent("created_timestamp is not epoch milliseconds")
    return _in_range(datetime.fromtimestamp(value / 1000, timezone.utc), "created_timestamp")


def _iso_from_text(value: Any) -> str:
    """X Activity's `created_at`: ISO 8601."""
    if value is None or value == "":
        return iso(datetime.now(timezone.utc))
    try:
        moment = datetime.fromisoformat(_text(value, "created_at").replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment = moment.astimezone(timezone.utc)   # OverflowError at the ends of the calendar
    except (ValueError, OverflowError):
        raise MalformedEvent("created_at is not an ISO 8601 time") from None
    return _in_range(moment, "created_at")


def _names(users: Any, user_id: str) -> tuple[str, str]:
    user = users.get(user_id) if isinstance(users, dict) else None
    if isinstance(user, dict) and isinstance(user.get("data"), dict):
        user = user["data"]
    name = user.get("name") if isinstance(user, dict) and isinstance(user.get("name"), str) else ""
    return (name.split()[0] if name.strip() else ""), name


def _from_legacy(events: Any, users: Any, own_id: str) -> list[InboundMessage]:
    """Account Activity `direct_message_events` (also wrapped inside X Activity payloads)."""
    if not isinstance(events, list):
        raise MalformedEvent("direct_message_events is not a list")
    _object(users, "users")
    found = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedEvent("a direct message event is not an object")
        if event.get("type") != "message_create":
            continue
        create = _object(event.get("message_create"), "message_create")
        sender = _id(create.get("sender_id"), "sender_id")
        event_id = _id(event.get("id"), "id")
        text = _text(_object(create.get("message_data"), "message_data").get("text"), "text")
        received_at = _iso_from_ms(event.get("created_timestamp"))
        if sender == own_id:
            continue   # our own DM, echoed back to the webhook
        first, name = _names(users, sender)
        found.append(InboundMessage(
            channel=CHANNEL, event_id=f"dm-{event_id}", chat_id=sender, sender_id=sender,
            message_id=event_id, received_at=received_at, text=text, first_name=first, name=name,
            chat_type="dm"))
    return found


def to_inbounds(payload: Any) -> list[InboundMessage]:
    """All customer DMs in one webhook delivery (it may carry several, or none we answer)."""
    if not isinstance(payload, dict):
        raise MalformedEvent("payload is not a JSON object")
    if "direct_message_events" in payload:
        return _from_legacy(payload["direct_message_events"], payload.get("users"),
                            _id(payload.get("for_user_id"), "for_user_id", required=False))
    data = payload.get("data")
    if isinstance(data, dict) and isinstance(data.get("event_type"), str):
        if data["event_type"] != "dm.received":
            return []
        own_id = _id(_object(data.get("filter"), "filter").get("user_id"), "filter.user_id", required=False)
        body = data.get("payload")
        if not isinstance(body, dict):
            raise MalformedEvent("dm.received without payload")
        if "direct_message_events" in body:
            return _from_legacy(body["direct_message_events"], body.get("users"), own_id)
        sender, event_id = _id(body.get("sender_id"), "sender_id"), _id(body.get("id"), "id")
        text, received_at = _text(body.get("text"), "text"), _iso_from_text(body.get("created_at"))
        if sender == own_id:
            return []
        return [InboundMessage(
            channel=CHANNEL, event_id=f"dm-{event_id}", chat_id=sender, sender_id=sender,
            message_id=event_id, received_at=received_at, text=text, chat_type="dm")]
    return []   # follows, likes, typing indicators, other event kinds: nothing to answer


def mention_to_inbound(tweet: Any, authors: dict[str, Any]) -> InboundMessage:
    author = str(tweet.author_id)
    user = authors.get(author)
    name = getattr(user, "name", "") or ""
    return InboundMessage(
        channel=CHANNEL, event_id=f"mention-{tweet.id}", chat_id=f"mention-{author}",
        sender_id=author, message_id=str(tweet.id),
        received_at=iso_from_text(tweet.created_at.isoformat() if tweet.created_at else ""),
        text=tweet.text or "", first_name=name.split()[0] if name.strip() else "", name=name,
        language_code="" if tweet.lang in (None, "und", "zxx", "qme", "qht") else tweet.lang,
        chat_type="mention")


# -- the Web API side ---------------------------------------------------------------------------------
def credentials() -> dict[str, str] | None:
    names = {"consumer_key": "X_CONSUMER_KEY", "consumer_secret": "X_CONSUMER_SECRET",
             "access_token": "X_ACCESS_TOKEN", "access_token_secret": "X_ACCESS_TOKEN_SECRET"}
    found = {k: secrets.get(v) for k, v in names.items()}
    return found if all(found.values()) else None


def own_user_id(access_token: str) -> str:
    """An OAuth 1.0a access token starts with the numeric id of the account it acts for."""
    return access_token.split("-", 1)[0]


def client(creds: dict[str, str]):
    import requests
    import tweepy

    base = (os.environ.get("X_API_URL") or REAL_HOST).rstrip("/")

    class Redirecting(requests.Session):
        """tweepy builds every URL on api.twitter.com; send them to X_API_URL instead."""

        def request(self, method, url, *args, **kwargs):
            if base != REAL_HOST and isinstance(url, str) and url.startswith(REAL_HOST):
                url = base + url[len(REAL_HOST):]
            return super().request(method, url, *args, **kwargs)

    x = tweepy.Client(bearer_token=secrets.get("X_BEARER_TOKEN") or None, **creds,
                      wait_on_rate_limit=False)
    x.session = Redirecting()
    return x


def _send_error(exc: Exception) -> SendError:
    import requests
    import tweepy

    if isinstance(exc, tweepy.TooManyRequests):
        reset = exc.response.headers.get("x-rate-limit-reset", "")
        wait = int(reset) - datetime.now(timezone.utc).timestamp() if reset.isdigit() else 60
        return SendError(f"X rate limit: {exc}", retryable=True, retry_after=max(wait, 1))
    if isinstance(exc, tweepy.TwitterServerError):
        return SendError(f"X server error: {exc}", retryable=True)
    if isinstance(exc, tweepy.HTTPException):
        return SendError(f"X refused: {exc}", retryable=False)
    if isinstance(exc, requests.RequestException):
        return SendError(f"X unreachable: {exc}", retryable=True)
    raise exc


class XSender:
    def __init__(self, creds: dict[str, str], limiter=None):
        self.creds = creds
        self.x = client(creds)
        self.limiter = limiter   # a DM budget shared by every function instance (see x_dm_budget)

    def send(self, ack: Acknowledgement) -> SentMessage:
        import requests
        import tweepy

        try:
            if ack.reply_to_message_id:   # a mention: a public reply
                response = self.x.create_tweet(text=ack.text, in_reply_to_tweet_id=ack.reply_to_message_id,
                                               user_auth=True)
                message_id = str(response.data["id"])
            else:
                if self.limiter:
                    wait = self.limiter()
                    if wait:
                        raise SendError("X DM limit reached", retryable=True, retry_after=wait)
                response = self.x.create_direct_message(participant_id=ack.chat_id, text=ack.text,
                                                        user_auth=True)
                message_id = str(response.data["dm_event_id"])
        except (tweepy.HTTPException, requests.RequestException) as exc:
            raise _send_error(exc) from exc
        sent_at = iso(datetime.now(timezone.utc))
        return models.SentMessage(channel=CHANNEL, chat_id=ack.chat_id, message_id=message_id,
                                  sent_at=sent_at, text=ack.text)

    def send_survey(self, request) -> str:
        ack = models.Acknowledgement(channel=CHANNEL, chat_id=request.chat_id, text=request.plain,
                                     language=request.language)
        return self.send(ack).message_id

    def answer_survey(self, inbound: InboundMessage, text: str) -> None:
        self.send(models.Acknowledgement(channel=CHANNEL, chat_id=inbound.chat_id, text=text, language=""))

    def is_own(self, sender_id: str) -> bool:
        return sender_id == own_user_id(self.creds["access_token"])

    def profile(self, sender_id: str) -> dict[str, str]:
        return {}   # DM payloads carry the name when X has it; a lookup would cost a rate-limited call

    def mentions(self, since_id: str | None) -> list[InboundMessage]:
        """New mentions of our account since `since_id`, oldest first (all pages)."""
        import tweepy

        me = own_user_id(self.creds["access_token"])
        found: list[InboundMessage] = []
        for page in tweepy.Paginator(self.x.get_users_mentions, id=me, since_id=since_id, max_results=100,
                                     tweet_fields=["created_at", "lang", "author_id", "conversation_id"],
                                     expansions=["author_id"], user_fields=["name"], user_auth=True):
            authors = {str(u.id): u for u in (page.includes or {}).get("users", [])}
            found += [mention_to_inbound(t, authors) for t in page.data or []
                      if str(t.author_id) != me]
        return sorted(found, key=lambda m: int(m.message_id))


def register_webhook(url: str, creds: dict[str, str], bearer_token: str) -> dict[str, Any]:
    """Register `url` as the app's webhook (X checks it with a CRC request first) unless it is
    already, and subscribe the support account to it (X API v2 webhooks and Account Activity).
    tweepy has no methods for these; its requests session and OAuth 1.0a helper do the calls."""
    import requests
    from requests_oauthlib import OAuth1

    base = (os.environ.get("X_API_URL") or REAL_HOST).rstrip("/")
    app = {"Authorization": f"Bearer {bearer_token}"}
    user = OAuth1(creds["consumer_key"], creds["consumer_secret"], creds["access_token"], creds["access_token_secret"])
    with requests.Session() as http:
        listed = http.get(f"{base}/2/webhooks", headers=app, timeout=30)
        if listed.status_code >= 400:
            raise RuntimeError(f"X refused to list webhooks: {listed.status_code} {listed.text[:300]}")
        webhook = next((w for w in listed.json().get("data") or [] if w.get("url") == url), None)
        if webhook is None:
            created = http.post(f"{base}/2/webhooks", json={"url": url}, headers=app, timeout=30)
            if created.status_code >= 400:
                raise RuntimeError(f"X refused the webhook {url}: {created.status_code} {created.text[:300]}")
            webhook = created.json()["data"]
        subscribed = http.post(f"{base}/2/account_activity/webhooks/{webhook['id']}/subscriptions/all",
                               auth=user, timeout=30)
        if subscribed.status_code >= 400:
            raise RuntimeError(f"X refused the subscription: {subscribed.status_code} {subscribed.text[:300]}")
    return {"webhook_id": webhook["id"], "url": webhook.get("url", url), "valid": webhook.get("valid"),
            "subscribed": subscribed.json().get("data", {}).get("subscribed", False)}
