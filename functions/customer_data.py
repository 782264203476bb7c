"""A customer's data under the business's control: everything we hold about one person, exported as
one document or erased, found from the person without a Scan.

A person is named as the stores name them (`telegram:42`, `email:olena@example.com`), by an email
address, or by a conversation reference they quote. Their other identities come from the links the
store keeps (a Telegram customer who gave their address for transcripts is the same person as that
address's email contact). From each identity, the store's per-customer pointers list the
conversations they wrote in; each conversation's partition leads to the rest.

Erasure leaves, per identity, a tombstone named by a keyed hash: a redelivered webhook or an old
queued message of that sender is dropped by the worker (`forgotten`) instead of bringing them back;
a message written after the erasure starts afresh. Stats (`STATS#…` counters, per-conversation facts
that hold no personal data) keep their counts.

The core imports no SDK: the store, the raw-mail bucket and the desk surfaces are ports.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

from functions.clock import iso
from functions.ports import SendError, SurfaceGone

log = logging.getLogger(__name__)

CHANNELS = ("telegram", "slack", "x", "email", "whatsapp", "messenger", "instagram")
TASK_KINDS = ("transcript", "survey")
MAX_IDENTITIES = 20
MAX_CHAIN = 1000
_CHANNEL_ID = re.compile(r"^(%s)[:#](.+)$" % "|".join(CHANNELS))
HIDDEN = ("pk", "sk", "gsi1pk", "gsi1sk", "expires_at")


class NotFound(LookupError):
    """Nothing is held about that contact (or the reference names no conversation)."""


class DeskRefused(RuntimeError):
    """A desk would not delete a conversation's posts (a right taken from the bot, an expired
    token): the erasure stops before the table is touched, so it can simply be run again."""


class MailBucket(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def delete_all_versions(self, key: str) -> int: ...


class DeskEraser(Protocol):
    def erase_thread(self, ref: dict[str, Any]) -> int:
        """Delete our posts of a desk thread (a Slack thread's parent and replies, a Telegram topic
        whole); returns how many. `SurfaceGone` when the surface cannot be reached any more."""
        ...


def keyed_hash(secret: bytes, channel: str, sender_id: str) -> str:
    """The tombstone's name for a person: without the deployment's secret, nobody holding the table
    can test whether someone was a customer by hashing their id."""
    return hmac.new(secret, f"tombstone\0{channel}\0{sender_id}".encode(), hashlib.sha256).hexdigest()


def contact_hash(secret: bytes, spec: str) -> str:
    """What the audit trail and the logs name a contact by (never the address or id itself); the
    same for `telegram:42` and `telegram#42`, for `OLENA@x` and `email:olena@x`."""
    kind, value = parse(spec)
    return hmac.new(secret, f"contact\0{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:16]


def parse(spec: str) -> tuple[str, str]:
    """("identity", "channel#id") or ("reference", REF) from what the admin typed."""
    spec = spec.strip()
    match = _CHANNEL_ID.match(spec)
    if match:
        channel, ident = match.groups()
        return "identity", f"{channel}#{ident.strip().lower() if channel == 'email' else ident.strip()}"
    if "@" in spec:
        return "identity", f"email#{spec.lower()}"
    if not spec:
        raise NotFound("no contact given")
    return "reference", spec


def _split(identity: str) -> tuple[str, str]:
    channel, _, ident = identity.partition("#")
    return channel, ident


@dataclass
class Person:
    """Everything found about one person: identities, their conversations (each partition read
    whole), and which of those conversations are their own."""

    identities: list[str] = field(default_factory=list)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    pointers: list[dict[str, Any]] = field(default_factory=list)
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)   # handled outside any conversation

    def owns(self, meta: dict[str, Any]) -> bool:
        return meta.get("contact") in self.identities

    def ids(self) -> set[tuple[str, str]]:
        return {_split(i) for i in self.identities}


def find(store, spec: str) -> Person:
    kind, value = parse(spec)
    if kind == "reference":
        cid = store.conversation_by_reference(value)
        meta = store.conversation(cid) if cid else None
        if not meta:
            raise NotFound(f"no conversation with reference {value!r}")
        value = meta["contact"]
    person = Person()
    queue = [value]
    while queue and len(person.identities) < MAX_IDENTITIES:
        identity = queue.pop(0)
        if identity in person.identities:
            continue
        person.identities.append(identity)
        channel, ident = _split(identity)
        contact = store.contact(channel, ident)
        if contact:
            person.contacts[identity] = contact
        for pointer in store.customer_pointers(channel, ident):
            person.pointers.append(pointer)
            if pointer["sk"].startswith("LINK#"):
                queue.append(f"{pointer['channel']}#{pointer['sender_id']}")
            elif pointer["sk"].startswith("EVENT#"):
                person.events.append({"pk": f"EVENT#{pointer['channel']}#{pointer['event_id']}", "sk": "EVENT"})
            elif pointer["sk"].startswith("CONV#"):
                person.conversations.setdefault(pointer["conversation_id"], [])
        if channel != "email":   # an email chat is named by its first Message-ID, not by the sender
            _walk_chat(store, person, channel, ident, identity)
    for cid in list(person.conversations):
        person.conversations[cid] = store.conversation_items(cid)
        if not person.conversations[cid]:
            del person.conversations[cid]   # expired meanwhile
    return person


def _walk_chat(store, person: Person, channel: str, ident: str, identity: str) -> None:
    """Conversations from before the pointers existed: a private chat's id is the sender's (Telegram,
    X DMs), and each conversation names the one before it."""
    chat = store.chat(channel, ident)
    cid, seen = (chat or {}).get("conversation_id"), 0
    while cid and seen < MAX_CHAIN:
        meta = store.conversation(cid)
        if not meta or meta.get("contact") != identity:
            break
        person.conversations.setdefault(cid, [])
        cid, seen = meta.get("previous_conversation_id"), seen + 1


def _meta(items: list[dict[str, Any]]) -> dict[str, Any]:
    return next((i for i in items if i["sk"] == "META"), {})


def _lines(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i["sk"].startswith("MSG#")]


def _event_id(line: dict[str, Any]) -> str:
    return line["sk"].split("#", 3)[3]


def _visible(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in HIDDEN}


def _mine(person: Person, meta: dict[str, Any], line: dict[str, Any]) -> bool:
    """A line of the person's: any line of their own conversation, their messages in another's."""
    if person.owns(meta):
        return True
    return line.get("direction") == "in" and (line.get("channel") or meta.get("channel"), line.get("sender_id")) in person.ids()


# -- export ------------------------------------------------------------------------------------------
def export(store, mail: MailBucket, spec: str, now: datetime, with_notes: bool = False) -> dict[str, Any]:
    person = find(store, spec)
    if not person.contacts and not person.conversations:
        raise NotFound("nothing is held about that contact")
    conversations, raw_mails = [], []
    for cid, items in sorted(person.conversations.items(), key=lambda kv: _meta(kv[1]).get("opened_at", "")):
        meta = _meta(items)
        messages = []
        for line in _lines(items):
            if not _mine(person, meta, line):
                continue
            if line.get("direction") == "desk" and not (with_notes and line.get("kind") == "note"):
                continue   # internal notes only on request; status changes are the team's
            messages.append(_visible(line))
            key = (line.get("details") or {}).get("s3_key")
            if key:
                raw = mail.get(key)
                raw_mails.append({"conversation_id": cid, "key": key, "size": len(raw) if raw else 0,
                                  "raw": raw.decode("utf-8", "replace") if raw is not None else None,
                                  "raw_base64": base64.b64encode(raw).decode() if raw is not None else None})
        survey = {k: meta[k] for k in ("csat", "csat_at", "nps", "nps_at", "comment", "comment_at",
                                        "survey_sent_at") if k in meta}
        conversations.append({**{k: v for k, v in _visible(meta).items() if not k.startswith("desk_")},
                              "own": person.owns(meta), "survey": survey, "messages": messages})
    return {"contact": spec, "exported_at": iso(now), "with_notes": with_notes,
            "identities": [{"channel": _split(i)[0], "id": _split(i)[1],
                            "profile": _visible(person.contacts.get(i) or {})} for i in person.identities],
            "conversations": conversations, "raw_mails": raw_mails}


# -- erasure -----------------------------------------------------------------------------------------
def forget(store, mail: MailBucket, desks: dict[str, DeskEraser], secret: bytes, spec: str,
           now: datetime) -> dict[str, int]:
    """Remove everything held about the person; returns how many of each kind were removed. Safe
    to repeat: a second run removes nothing and leaves the tombstones in place."""
    person = find(store, spec)
    removed = {kind: 0 for kind in ("contacts", "conversations", "messages", "events", "chats", "tasks",
                                    "message_ids", "desk_records", "desk_threads", "desk_posts", "references",
                                    "raw_mails", "pointers", "desk_unreachable")}
    keys: dict[str, list[dict[str, Any]]] = {kind: [] for kind in removed}
    probe: dict[str, list[dict[str, Any]]] = {"chats": [], "tasks": [], "message_ids": [], "events": [],
                                              "desk_records": [], "desk_threads": [], "references": []}
    mail_keys: list[str] = []
    message_ids: set[str] = set()
    for cid, items in person.conversations.items():
        meta = _meta(items)
        own = person.owns(meta)
        for line in _lines(items):
            if not _mine(person, meta, line):
                continue
            keys["messages"].append(line)
            if line.get("direction") == "in":
                probe["events"].append({"pk": f"EVENT#{line.get('channel') or meta.get('channel')}#{_event_id(line)}",
                                        "sk": "EVENT"})
                if (line.get("details") or {}).get("s3_key"):
                    mail_keys.append(line["details"]["s3_key"])
            if line.get("agent"):   # a desk line: its action record holds the agent's text
                probe["desk_records"].append({"pk": f"DESK#{_event_id(line)}", "sk": "DESK"})
            message_ids.update(m for m in [line.get("message_id"), *(line.get("message_ids") or [])] if m)
        if not own:
            continue
        keys["conversations"].append(meta)
        message_ids.update(m for m in [(meta.get("last_in") or {}).get("message_id"), meta.get("ack_message_id")] if m)
        probe["chats"].append({"pk": f"CHAT#{meta.get('channel')}#{meta.get('chat_id')}", "sk": "CHAT"})
        probe["tasks"] += [{"pk": f"TASK#{kind}#{cid}", "sk": "TASK"} for kind in TASK_KINDS]
        probe["references"] += store.lookup_keys(meta)   # the reference, name words and SLA timer
        for name, ref in meta.items():
            if name.startswith("desk_") and isinstance(ref, dict) and ref.get("thread"):
                probe["desk_threads"].append({"pk": f"THREAD#{name[len('desk_'):]}#{ref['thread']}", "sk": "THREAD"})
                surface = name[len("desk_"):]
                eraser = desks.get(surface)
                if eraser:
                    try:
                        removed["desk_posts"] += eraser.erase_thread(ref)
                    except SurfaceGone as exc:   # nobody can read or change it through us: the rest goes
                        removed["desk_unreachable"] += 1
                        log.warning("erasure: the %s desk of %s cannot be reached (%s); its posts stay there",
                                    surface, meta.get("reference"), exc)
                    except SendError as exc:
                        then = "try again" if exc.retryable else "put that right and erase again"
                        raise DeskRefused(f"the {surface} desk would not delete the posts of "
                                          f"{meta.get('reference')} ({exc}); nothing stored was erased yet: {then}") from exc
    probe["message_ids"] = store.message_id_keys(message_ids)
    probe["events"] += person.events
    owned = {m["conversation_id"] for m in keys["conversations"]}
    for kind, candidates in probe.items():
        for item in store.get_items(candidates) if candidates else []:
            # a chat now in another person's conversation, or a link another chat took over, stays
            if kind == "chats" and item.get("conversation_id") not in owned:
                continue
            if kind == "message_ids" and not _chat_of(person, item.get("chat_id", "")):
                continue
            keys[kind].append(item)
    for key in dict.fromkeys(mail_keys):
        removed["raw_mails"] += mail.delete_all_versions(key)
    # the person's own items last: a run cut short is found again and finished by the next run
    keys["pointers"] = person.pointers
    keys["contacts"] = [{"pk": f"CONTACT#{c}", "sk": "PROFILE"} for c in person.contacts]
    content = [k for kind in removed if kind not in ("pointers", "contacts") for k in keys[kind]]
    store.delete_keys(content)
    for identity in person.identities:
        store.put_tombstone(keyed_hash(secret, *_split(identity)), now)
    store.delete_keys(keys["pointers"] + keys["contacts"])
    for kind in removed:
        if kind not in ("desk_posts", "raw_mails", "desk_unreachable"):   # counted as they went
            removed[kind] = len({(k["pk"], k["sk"]) for k in keys[kind]})
    log.info("contact erased", extra={"identities": len(person.identities), "removed": removed})
    return removed


def _chat_of(person: Person, chat_id: str) -> bool:
    """A Message-ID link that leads into one of the person's conversations' chats."""
    return any(_meta(items).get("chat_id") == chat_id for items in person.conversations.values())


def tombstone_digest(secret: Callable[[], bytes], channel: str, sender_id: str) -> str | None:
    """The key of a sender's tombstone; None without a signing secret (nothing can have been erased)."""
    try:
        return keyed_hash(secret(), channel, sender_id)
    except RuntimeError:
        return None


def forgotten(store, secret: Callable[[], bytes], inbound) -> bool:
    """The worker's question for a sender without a contact: was this person erased after this
    message was written? Then it is a redelivery or an old queued message, not a new one."""
    digest = tombstone_digest(secret, inbound.channel, inbound.sender_id)
    return bool(digest) and erased_after(store.tombstone(digest), inbound)


def erased_after(tombstone: dict | None, inbound) -> bool:
    """Whether the tombstone (read by `forgotten` or with the worker's one read) postdates the message."""
    return bool(tombstone) and inbound.received_at <= tombstone["erased_at"]
