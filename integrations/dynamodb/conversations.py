"""Conversations: the chat's current conversation, the contact, the decision transaction, the
messages in and out, and the reads the transcript, the desk and the dev page make."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time as _time
from datetime import datetime, timedelta, timezone
from typing import Any

from functions.clock import iso
from functions.models import ChatState, Contact, Decision, InboundMessage, SentMessage
from functions.settings import Settings
from integrations.dynamodb import (EVENT_TTL_DAYS, TTL_ATTRIBUTE, _from_key, chat_key, contact_key,
                                   conversation_key, event_key, expiry, from_item, key_of, open_partition, to_item,
                                   unique_keys)
from integrations.dynamodb.customers import pointer_items, tombstone_key
from integrations.dynamodb.inbox import lookup_items, sla_timer, state_pk
from integrations.dynamodb.stats import count_fact, latency_bucket

log = logging.getLogger(__name__)


def _event_context_keys(channel: str, event_id: str, chat_id: str, sender_id: str,
                        tombstone: str | None) -> list[dict[str, Any]]:
    keys = [event_key(channel, event_id), contact_key(channel, sender_id), chat_key(channel, chat_id)]
    return keys + ([tombstone_key(tombstone)] if tombstone else [])


class ConversationStore:
    """A mixin of `DynamoStore`."""

    def load_context(self, inbound: InboundMessage) -> tuple[Contact | None, ChatState | None]:
        items = self._batch_get([contact_key(inbound.channel, inbound.sender_id),
                                 chat_key(inbound.channel, inbound.chat_id)])
        return self._context(items, inbound.channel, inbound.sender_id)

    def load_event_context(self, channel: str, event_id: str, chat_id: str, sender_id: str,
                           tombstone: str | None = None
                           ) -> tuple[dict[str, Any] | None, Contact | None, ChatState | None, dict[str, Any] | None]:
        """The worker's one read per message: the event, its contact and its chat in one
        BatchGetItem (the queue message names the chat and the sender, so the keys are known
        before the event is read), and the sender's erasure tombstone when its digest is given
        (a sender without a contact is checked against it). Answered from `read_ahead`'s read,
        once, when it read this message's."""
        request = (channel, event_id, chat_id, sender_id, tombstone)
        keys = _event_context_keys(*request)
        found = self._read_ahead.pop(request, None)
        return self._event_context(self._by_key(keys) if found is None else found, keys, channel, sender_id)

    def read_ahead(self, requests: list[tuple[str, str, str, str, str | None]]) -> None:
        """The one read of several messages' `load_event_context` (a worker's batch: one
        BatchGetItem instead of one a message), each answered from it once. Only for messages
        no earlier one of the batch writes the context of (another chat, another sender): a later
        message of the same chat must see what the earlier one wrote. `forget_read_ahead` drops
        what the batch did not use."""
        keys = unique_keys([k for request in requests for k in _event_context_keys(*request)])
        found = self._by_key(keys) if keys else {}
        self._read_ahead.update({request: found for request in requests})

    def forget_read_ahead(self) -> None:
        self._read_ahead.clear()

    def _by_key(self, keys: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {key_of(item): item for item in self._batch_get(keys)}

    def _event_context(self, found: dict[tuple[str, str], dict[str, Any]], keys: list[dict[str, Any]],
                       channel: str, sender_id: str):
        """(event, contact, chat, tombstone) of `_event_context_keys` among the items read."""
        event_k, contact_k, chat_k, *gone_k = map(key_of, keys)
        context = [found[k] for k in (contact_k, chat_k) if k in found]
        contact, chat = self._context(context, channel, sender_id)
        return found.get(event_k), contact, chat, found.get(gone_k[0]) if gone_k else None

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        request = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        for _ in range(5):   # BatchGetItem may hand back unprocessed keys under load
            answer = self.ddb.batch_get_item(RequestItems=request)
            found += [from_item(i) for i in answer.get("Responses", {}).get(self.table, [])]
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
            _time.sleep(0.05)
        raise RuntimeError("BatchGetItem left keys unprocessed five times")   # the queue retries

    @staticmethod
    def _context(items: list[dict[str, Any]], channel: str, sender_id: str
                 ) -> tuple[Contact | None, ChatState | None]:
        contact = chat = None
        for item in items:
            if item["pk"].startswith("CONTACT#"):
                known = {f.name for f in dataclasses.fields(Contact)} - {"channel", "sender_id"}
                contact = Contact(channel=channel, sender_id=sender_id,
                                  **{k: v for k, v in item.items() if k in known and isinstance(v, str)})
            else:
                chat = ChatState(conversation_id=item["conversation_id"], status=item["status"],
                                 opened_at=item["opened_at"], last_activity_at=item["last_activity_at"],
                                 reference=item["reference"])
        return contact, chat

    def commit_decision(self, inbound: InboundMessage, decision: Decision, previous: ChatState | None,
                        now: datetime, settings: Settings,
                        placed: tuple[str, dict[str, Any] | None] | None = None) -> bool:
        """One transaction: the decision on the event, the message in its conversation, the chat
        and conversation moved, the contact's profile (and last ack) updated. It fails, and the
        caller reads again, when the event was decided or the chat moved in the meantime.
        `placed`: a new conversation's priority and SLA due time (`functions.sla.opening`), put in
        place with it (its due time as the inbox's sort key, its timer in the SLA index)."""
        at = iso(now)
        keep = expiry(now, settings.retention_days)
        event_expiry = expiry(now, min(EVENT_TTL_DAYS, settings.retention_days))
        cid = decision.conversation_id
        # what an agent's reply needs to thread under the customer's last message
        last_in = {"message_id": inbound.message_id, "thread_id": inbound.thread_id, "chat_type": inbound.chat_type,
                   "subject": inbound.subject, "references": inbound.references}
        items: list[dict[str, Any]] = [{"Update": {
            "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
            # a decision that sends nothing also marks the event done: no write of its own after
            "UpdateExpression": "SET decision = :d, decided_at = :t, #ttl = :e"
                                + ("" if decision.acknowledge else ", #s = :done"),
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(decision)",
            "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE, **({} if decision.acknowledge else {"#s": "status"})},
            "ExpressionAttributeValues": to_item({":d": decision.to_dict(), ":t": at, ":e": event_expiry,
                                                  **({} if decision.acknowledge else {":done": "done"})}),
        }}]
        # the chat as it was read: its conversation, last activity and status (an agent's close or
        # reopen moves the status alone, and a decision on a chat read before it would put the
        # message in a closed conversation, or open a second one beside a reopened one)
        chat_condition = ("attribute_not_exists(pk)" if previous is None
                          else "conversation_id = :old AND last_activity_at = :seen AND #chat_status = :was")
        chat_values = {} if previous is None else {":old": previous.conversation_id,
                                                   ":seen": previous.last_activity_at, ":was": previous.status}
        chat_names = {} if previous is None else {"#chat_status": "status"}
        if decision.new_conversation:
            items.append({"Put": {
                "TableName": self.table,
                "Item": to_item({
                    **_from_key(chat_key(inbound.channel, inbound.chat_id)),
                    "conversation_id": cid, "status": "open", "opened_at": at, "last_activity_at": at,
                    "reference": decision.reference, TTL_ATTRIBUTE: keep}),
                "ConditionExpression": chat_condition,
                **({"ExpressionAttributeValues": to_item(chat_values),
                    "ExpressionAttributeNames": chat_names} if chat_values else {}),
            }})
            priority, due = placed or ("normal", None)
            conversation = {
                **_from_key(conversation_key(cid)),
                "conversation_id": cid, "channel": inbound.channel, "chat_id": inbound.chat_id,
                "contact": f"{inbound.channel}#{inbound.sender_id}", "status": "open",
                "opened_at": at, "last_activity_at": at, "reference": decision.reference,
                "messages": 1, "ack": "pending" if decision.acknowledge else decision.reason,
                "state": "waiting", "priority": priority, "name": inbound.name or inbound.first_name or None,
                "customer_language": inbound.language_code or None, "last_in": last_in,
                "previous_conversation_id": previous.conversation_id if previous else None,
                "gsi1pk": open_partition(inbound.channel, cid), "gsi1sk": at, TTL_ATTRIBUTE: keep,
                # the inbox's waiting queue, by due time (by waiting time when nothing is due)
                "waiting_since": at, "gsi2pk": state_pk("waiting", cid), "gsi2sk": due["due_at"] if due else at}
            if due:
                conversation.update(sla_due_at=due["due_at"], sla_kind=due["kind"])
            items.append({"Put": {"TableName": self.table, "Item": to_item(conversation),
                                  "ConditionExpression": "attribute_not_exists(pk)"}})
            if due:   # a new conversation has no timer yet: no condition needed
                items.append({"Put": {"TableName": self.table, "Item": to_item(sla_timer(conversation, due, now))}})
            items += lookup_items(self.table, {
                "conversation_id": cid, "opened_at": at, "reference": decision.reference,
                "contact": f"{inbound.channel}#{inbound.sender_id}", "name": inbound.name or inbound.first_name,
                TTL_ATTRIBUTE: keep})
        else:
            items.append({"Update": {
                "TableName": self.table, "Key": chat_key(inbound.channel, inbound.chat_id),
                "UpdateExpression": "SET last_activity_at = :t, #ttl = :e",
                "ConditionExpression": chat_condition,
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE, **chat_names},
                "ExpressionAttributeValues": to_item({":t": at, ":e": keep, **chat_values}),
            }})
            items.append({"Update": {
                "TableName": self.table, "Key": conversation_key(cid),
                # a customer writing again puts the conversation back on us
                # the SLA clock runs from the first message nobody answered yet (kept while waiting);
                # the inbox's sort key stays as it is (the worker's SLA step then puts the due time,
                # the same one while still waiting): moving it on every message would write the
                # state's index partition twice a message (out and in again)
                "UpdateExpression": "SET last_activity_at = :t, gsi1sk = :t, #ttl = :e, #state = :waiting, "
                                    "last_in = :li, waiting_since = if_not_exists(waiting_since, :t), "
                                    "gsi2pk = :wpk, gsi2sk = if_not_exists(gsi2sk, :t) ADD messages :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE, "#state": "state"},
                "ExpressionAttributeValues": to_item({":t": at, ":e": keep, ":one": 1, ":waiting": "waiting",
                                                      ":li": last_in, ":wpk": state_pk("waiting", cid)}),
            }})
        items.append({"Put": {
            "TableName": self.table,
            "Item": to_item({
                "pk": f"CONV#{cid}", "sk": f"MSG#{at}#in#{inbound.event_id}",
                "direction": "in", "channel": inbound.channel, "message_id": inbound.message_id,
                "sender_id": inbound.sender_id, "text": inbound.text, "media": inbound.media,
                "subject": inbound.subject or None, "no_reply": inbound.no_reply or None,
                "details": inbound.details or None, "sent_at": at, "channel_at": inbound.received_at,
                TTL_ATTRIBUTE: keep}),
        }})
        # Only what the channel told us: Slack and X send ids, the names come from a lookup that
        # may have failed; an empty value must not erase a cached one.
        profile: dict[str, Any] = {":t": at, ":e": keep}
        sets = ["last_seen_at = :t", "#ttl = :e"]
        names = {"#ttl": TTL_ATTRIBUTE}
        for field_name, placeholder in (("first_name", ":f"), ("name", ":n"), ("language_code", ":l"),
                                        ("timezone", ":z")):
            value = getattr(inbound, field_name)
            if value:
                names[f"#{field_name}"] = field_name
                sets.append(f"#{field_name} = {placeholder}")
                profile[placeholder] = value
        # an email's Date: offset (issue 15): the customer's clock for the survey's daytime only
        offset = (inbound.details or {}).get("utc_offset_minutes")
        if isinstance(offset, int) and not isinstance(offset, bool):
            sets.append("utc_offset_minutes = :o")
            profile[":o"] = offset
        update = "SET " + ", ".join(sets)
        condition = None
        if decision.acknowledge:
            # the gap holds even if two chats of one contact race: only one can move last_ack_at
            update += ", last_ack_at = :t"
            condition = "attribute_not_exists(last_ack_at) OR last_ack_at < :gap"
            profile[":gap"] = iso(now - timedelta(minutes=settings.contact_gap_minutes))
        if decision.new_conversation:
            # counted by a fact of its own (not a shared day counter: that item in every new
            # conversation's transaction would cancel concurrent ones and cap a day's rate)
            items.append(count_fact(self.table, "open", inbound.channel, cid, now))
        # what export and erasure find the sender's data by (integrations/dynamodb/customers.py)
        items += pointer_items(self.table, inbound.channel, inbound.sender_id, cid, keep, now)
        items.append({"Update": {
            "TableName": self.table, "Key": contact_key(inbound.channel, inbound.sender_id),
            "UpdateExpression": update,
            **({"ConditionExpression": condition} if condition else {}),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(profile),
        }})
        try:
            self.ddb.transact_write_items(TransactItems=items)
            return True
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if any(r not in (None, "None", "ConditionalCheckFailed") for r in reasons):
                raise   # a conflict or throttle: the queue retries the whole message
            log.info("decision not committed (%s), reading again", reasons)
            return False

    def record_ack_sent(self, inbound: InboundMessage, decision: Decision, sent: SentMessage,
                        language: str, settings: Settings, plain: str = "") -> None:
        """One transaction: the message, the event done, the conversation's ack, the ack's fact
        (what the day's acks and their latency are counted from). The worker retries it when it
        fails (`functions.pipeline.record_sent`). Every part is a SET or a Put of a key this
        conversation owns, so a retry rewrites the same values and counts nothing twice (no shared
        counter is ADDed: that would be a hot item and a double count on a retry whose first try
        committed). The request still carries a ClientRequestToken made from its own content, so a
        retry of a try DynamoDB committed is answered as committed instead of written again."""
        now = datetime.fromisoformat(sent.sent_at.replace("Z", "+00:00"))
        keep = expiry(now, settings.retention_days)
        cid = decision.conversation_id
        received = datetime.fromisoformat(inbound.received_at.replace("Z", "+00:00"))
        latency = max((now - received).total_seconds(), 0.0)
        items = [
            count_fact(self.table, "ack", inbound.channel, cid, now, key=inbound.event_id,
                       bucket=latency_bucket(latency)),
            {"Put": {"TableName": self.table, "Item": to_item({
                "pk": f"CONV#{cid}", "sk": f"MSG#{sent.sent_at}#out#{sent.message_id}",
                "direction": "out", "kind": "ack", "channel": sent.channel, "message_id": sent.message_id,
                "text": sent.text, "plain": plain or None, "language": language, "sent_at": sent.sent_at,
                "channel_at": sent.extra.get("channel_at"), TTL_ATTRIBUTE: keep})}},
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET #s = :done, ack_sent_at = :t, ack_message_id = :m",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item({":done": "done", ":t": sent.sent_at,
                                                      ":m": sent.message_id})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(cid),
                "UpdateExpression": "SET ack = :sent, acked_at = :t, ack_message_id = :m, #lang = :l",
                "ExpressionAttributeNames": {"#lang": "language"},
                "ExpressionAttributeValues": to_item({":sent": "sent", ":t": sent.sent_at,
                                                      ":m": sent.message_id, ":l": language})}},
        ]
        token = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:36]
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)

    def remember_ack_sent(self, inbound: InboundMessage, sent: SentMessage, language: str,
                          plain: str = "") -> None:
        """The fallback when the record above keeps failing: the one fact that must survive — the
        channel took this acknowledgement — on the event alone (one small item, one write), so
        the redelivered queue message completes the record instead of sending again."""
        self.ddb.update_item(
            TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
            UpdateExpression="SET #a = :a", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#a": "ack_sent"},
            ExpressionAttributeValues=to_item({":a": {
                "sent": dataclasses.asdict(sent), "language": language, "plain": plain}}))

    def record_ack_failed(self, inbound: InboundMessage, decision: Decision, reason: str) -> None:
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET #s = :done, ack_error = :r",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item({":done": "done", ":r": reason[:500]})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(decision.conversation_id),
                "UpdateExpression": "SET ack = :failed, ack_error = :r",
                "ExpressionAttributeValues": to_item({":failed": "failed", ":r": reason[:500]})}},
        ])

    # -- delayed acknowledgements (issue 15) ---------------------------------------------------------
    def record_ack_delayed(self, inbound: InboundMessage, decision: Decision, due: datetime) -> None:
        """The acknowledgement waits in the delay queue: the event is done for the work queue (a
        redelivery replays nothing), the conversation shows `ack: delayed` until then."""
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET #s = :done, ack_due_at = :t",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item({":done": "done", ":t": iso(due)})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(decision.conversation_id),
                "UpdateExpression": "SET ack = :delayed, ack_due_at = :t",
                "ExpressionAttributeValues": to_item({":delayed": "delayed", ":t": iso(due)})}},
        ])

    def claim_ack(self, inbound: InboundMessage, now: datetime, stale_after: timedelta) -> bool:
        """Only one delivery of a delayed acknowledgement sends it (the delay queue delivers at
        least once, and not in order); a claim older than `stale_after` belonged to a worker that died."""
        try:
            self.ddb.update_item(
                TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
                UpdateExpression="SET ack_claimed_at = :t",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(ack_sent_at) AND "
                                    "attribute_not_exists(ack_skipped) AND "
                                    "(attribute_not_exists(ack_claimed_at) OR ack_claimed_at < :stale)",
                ExpressionAttributeValues=to_item({":t": iso(now), ":stale": iso(now - stale_after)}))
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False

    def release_ack(self, inbound: InboundMessage) -> None:
        self.ddb.update_item(TableName=self.table, Key=event_key(inbound.channel, inbound.event_id),
                             UpdateExpression="REMOVE ack_claimed_at")

    def record_ack_skipped(self, inbound: InboundMessage, decision: Decision, reason: str) -> None:
        """The delay ran out after an agent had answered: no acknowledgement, and why."""
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {
                "TableName": self.table, "Key": event_key(inbound.channel, inbound.event_id),
                "UpdateExpression": "SET ack_skipped = :r",
                "ConditionExpression": "attribute_not_exists(ack_sent_at)",
                "ExpressionAttributeValues": to_item({":r": reason})}},
            {"Update": {
                "TableName": self.table, "Key": conversation_key(decision.conversation_id),
                "UpdateExpression": "SET ack = :r",
                "ExpressionAttributeValues": to_item({":r": f"skipped: {reason}"})}},
        ])

    def update_conversation(self, conversation_id: str, **fields: Any) -> None:
        names = {f"#{k}": k for k in fields}
        self.ddb.update_item(
            TableName=self.table, Key=conversation_key(conversation_id),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=to_item({f":{k}": v for k, v in fields.items()}))

    def update_contact(self, channel: str, sender_id: str, **fields: Any) -> None:
        names = {f"#{k}": k for k in fields}
        self.ddb.update_item(
            TableName=self.table, Key=contact_key(channel, sender_id),
            UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in fields),
            ExpressionAttributeNames=names, ExpressionAttributeValues=to_item({f":{k}": v for k, v in fields.items()}))
        if fields.get("email") and channel != "email":
            # the same person by email: export and erasure reach both (the link is written both ways)
            self.link_identities((channel, sender_id), ("email", fields["email"]), datetime.now(timezone.utc))

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=conversation_key(conversation_id),
                                           ConsistentRead=True).get("Item"))

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._query(f"CONV#{conversation_id}", "MSG#", consistent=True)

    def chat(self, channel: str, chat_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=chat_key(channel, chat_id),
                                           ConsistentRead=True).get("Item"))

    def contact(self, channel: str, sender_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=contact_key(channel, sender_id),
                                           ConsistentRead=True).get("Item"))
