"""The desk: agents' actions on a conversation, and which surface thread shows which conversation.

An action is written once, in one transaction: its record `DESK#{action id}` (the dedupe key, with
what is left to do: delivery, confirmation), its line in the conversation's history (beside the
customer's messages, so one query reads the whole story in order) and what it changes on the
conversation (state, assignee, priority; closing also makes the transcript and survey due, as
close-idle does).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from functions.clock import iso
from integrations.dynamodb import (TTL_ATTRIBUTE, _from_key, chat_key, conversation_key, event_key, expiry,
                                   facts_partition, from_item, open_partition, to_item)
from functions import audit
from integrations.dynamodb.audit import audit_item
from functions import sla
from integrations.dynamodb.inbox import state_pk
from integrations.dynamodb.jobs import due_task_items
from integrations.dynamodb.stats import FACTS_DAYS, close_fact



def desk_key(action_id: str) -> dict[str, Any]:
    return to_item({"pk": f"DESK#{action_id}", "sk": "DESK"})


def thread_key(surface: str, thread: str) -> dict[str, Any]:
    return to_item({"pk": f"THREAD#{surface}#{thread}", "sk": "THREAD"})


class DeskStore:
    """A mixin of `DynamoStore`."""

    def desk_record(self, action_id: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=desk_key(action_id),
                                           ConsistentRead=True).get("Item"))

    def record_action(self, action, conversation: dict[str, Any], now: datetime, settings,
                      tasks: list[tuple[str, datetime]]) -> dict[str, Any]:
        """Store the action once with what it changes; a second call with the same action id
        returns the stored record and changes nothing."""
        existing = self.desk_record(action.action_id)
        if existing:
            return existing
        at, cid, kind = iso(now), action.conversation_id, action.kind
        keep = expiry(now, settings.retention_days)
        history_sk = f"MSG#{at}#{'out' if kind == 'reply' else 'desk'}#{action.action_id}"
        changes, outcome, sla_due = self._changes(action, conversation, now, tasks, settings)
        record = {**_from_key(desk_key(action.action_id)), "action": action.to_dict(), "conversation_id": cid,
                  "kind": kind, "at": at, "history_sk": history_sk, "outcome": outcome,
                  "delivery": "pending" if kind == "reply" else None, TTL_ATTRIBUTE: keep}
        line = {"pk": f"CONV#{cid}", "sk": history_sk, "direction": "out" if kind == "reply" else "desk",
                "kind": kind, "agent": action.agent.id, "agent_name": action.agent.name,
                "text": action.text or None, "value": action.value or None, "sent_at": at,
                "surface": action.origin.get("surface"), "delivery": record["delivery"],
                "outcome": outcome, TTL_ATTRIBUTE: keep}
        # the audit trail's entry, written with the action so it exists exactly once (no text)
        audited = audit_item(self.table, audit.entry(
            action.agent.id, f"desk.{kind}", f"conversation:{cid}", now, action.origin, entry_id=action.action_id,
            value=action.value or None), audit.expires(now, getattr(settings, "audit_retention_days", None)))
        items = [{"Put": {"TableName": self.table, "Item": to_item(record),
                          "ConditionExpression": "attribute_not_exists(pk)"}},
                 {"Put": {"TableName": self.table, "Item": to_item(line)}}, audited, *changes]
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":   # recorded by an earlier delivery
                return self.desk_record(action.action_id) or record
            if any(r not in (None, "None", "ConditionalCheckFailed") for r in reasons):
                raise
            # the conversation moved under us (closed twice, a task already due): keep the action
            # in the history with what it found, change nothing else
            record["outcome"] = line["outcome"] = f"{kind}: nothing to change"
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_item(record),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self.table, "Item": to_item(line)}}, audited])
            return record
        if sla_due:   # reopened or reprioritised while waiting: the SLA job's timer follows
            self.put_sla_timer({**conversation, TTL_ATTRIBUTE: keep}, sla_due, now)
        return record

    def _changes(self, action, conversation: dict[str, Any], now: datetime, tasks: list[tuple[str, datetime]],
                 settings) -> tuple[list[dict[str, Any]], str, dict[str, Any] | None]:
        """The transaction items of what an action changes, the outcome it records, and the new
        SLA due time when the action gives the conversation one."""
        items, outcome = self._action_items(action, conversation, now, tasks)
        cid, kind, at = action.conversation_id, action.kind, iso(now)
        sla_due = None
        # the inbox's index follows the state (integrations/dynamodb/inbox.py)
        if kind == "reply" or (kind == "close" and outcome == "closed"):
            state = "answered" if kind == "reply" else "closed"
            items.append(self._inbox_update(cid, "SET gsi2pk = :pk, gsi2sk = :t REMOVE waiting_since, sla_due_at, sla_kind",
                                            {":pk": state_pk(state, cid), ":t": at}))
        elif kind == "reopen" or (kind == "priority" and conversation.get("state") == "waiting"):
            since = at if kind == "reopen" else conversation.get("waiting_since") or at
            priority = action.value if kind == "priority" else conversation.get("priority") or "normal"
            sla_due = sla.due({**conversation, "state": "waiting", "waiting_since": since}, settings, priority)
            values = {":pk": state_pk("waiting", cid), ":since": since, ":sk": sla_due["due_at"] if sla_due else since}
            expression = "SET gsi2pk = :pk, gsi2sk = :sk, waiting_since = :since"
            if sla_due:
                expression += ", sla_due_at = :due, sla_kind = :kind"
                values.update({":due": sla_due["due_at"], ":kind": sla_due["kind"]})
            else:
                expression += " REMOVE sla_due_at, sla_kind"
            items.append(self._inbox_update(cid, expression, values))
        if kind == "priority":   # the rules no longer raise what an agent chose
            items.append(self._inbox_update(cid, "SET priority_by = :by", {":by": action.agent.id}))
        return _merge_updates(items, conversation_key(cid)), outcome, sla_due

    def _inbox_update(self, cid: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": conversation_key(cid), "UpdateExpression": expression,
                           "ExpressionAttributeValues": to_item(values)}}

    def _action_items(self, action, conversation: dict[str, Any], now: datetime,
                      tasks: list[tuple[str, datetime]]) -> tuple[list[dict[str, Any]], str]:
        """The transaction items of what an action changes, and the outcome it records."""
        cid, kind, at = action.conversation_id, action.kind, iso(now)
        key = conversation_key(cid)
        update = lambda expression, values, condition=None, names=None: {"Update": {  # noqa: E731
            "TableName": self.table, "Key": key, "UpdateExpression": expression,
            "ExpressionAttributeValues": to_item(values),
            **({"ExpressionAttributeNames": names} if names else {}),
            **({"ConditionExpression": condition} if condition else {})}}
        chat = chat_key(conversation["channel"], conversation["chat_id"])
        chat_status = lambda status: {"Update": {  # noqa: E731
            "TableName": self.table, "Key": chat, "UpdateExpression": "SET #s = :s",
            "ConditionExpression": "conversation_id = :cid", "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": to_item({":s": status, ":cid": cid})}}
        if kind == "reply":
            if conversation.get("status") == "closed":   # answering a closed conversation opens it again
                return [update("SET #s = :open, #state = :answered, last_agent_at = :t, gsi1pk = :p, gsi1sk = :t "
                               "REMOVE closed_at",
                               {":open": "open", ":answered": "answered", ":t": at,
                                ":p": open_partition(conversation["channel"], cid)},
                               names={"#s": "status", "#state": "state"}),
                        chat_status("open")], "reopened"
            return [update("SET #state = :answered, last_agent_at = :t", {":answered": "answered", ":t": at},
                           names={"#state": "state"})], "answered"
        if kind == "close":
            items = [update("SET #s = :closed, #state = :closed, closed_at = :t, closed_by = :by "
                            "REMOVE gsi1pk, gsi1sk",
                            {":closed": "closed", ":t": at, ":by": action.agent.id, ":open": "open"},
                            condition="#s = :open", names={"#s": "status", "#state": "state"}),
                     chat_status("closed"), close_fact(self.table, conversation, now, action.agent.id)]
            items += due_task_items(self.table, cid, tasks, now)
            return items, "closed"
        if kind == "reopen":
            return [update("SET #s = :open, #state = :waiting, reopened_at = :t, gsi1pk = :p, gsi1sk = :t "
                           "REMOVE closed_at",
                           {":open": "open", ":waiting": "waiting", ":t": at, ":closed": "closed",
                            ":p": open_partition(conversation["channel"], cid)},
                           condition="#s = :closed", names={"#s": "status", "#state": "state"}),
                    chat_status("open")], "reopened"
        if kind == "assign":
            if not action.value:
                return [update("REMOVE assignee, assignee_name SET assigned_at = :t", {":t": at})], "unassigned"
            return [update("SET assignee = :a, assignee_name = :n, assigned_at = :t",
                           {":a": action.value, ":n": action.text or action.value, ":t": at})], "assigned"
        if kind == "priority":
            return [update("SET priority = :p", {":p": action.value})], f"priority {action.value}"
        return [], "noted"

    def record_delivery(self, record: dict[str, Any], outcome: str, now: datetime, message_ids: list[str],
                        reason: str = "", first_response: dict[str, Any] | None = None) -> None:
        """A reply went out (or never can): on its record, its history line and the conversation."""
        at, cid = iso(now), record["conversation_id"]
        values = {":d": outcome, ":t": at, ":m": message_ids, ":r": reason or None}
        sets = "SET delivery = :d, delivered_at = :t, message_ids = :m" + (", reason = :r" if reason else "")
        values = {k: v for k, v in values.items() if v is not None}
        items = [
            {"Update": {"TableName": self.table, "Key": desk_key(record["action"]["action_id"]),
                        "UpdateExpression": sets, "ExpressionAttributeValues": to_item(values)}},
            {"Update": {"TableName": self.table, "Key": to_item({"pk": f"CONV#{cid}", "sk": record["history_sk"]}),
                        "UpdateExpression": sets, "ExpressionAttributeValues": to_item(values)}},
        ]
        if outcome == "sent":
            items.append({"Update": {"TableName": self.table, "Key": conversation_key(cid),
                                     "UpdateExpression": "SET last_reply_at = :t ADD agent_replies :one",
                                     "ExpressionAttributeValues": to_item({":t": at, ":one": 1})}})
        self.ddb.transact_write_items(TransactItems=items)
        if first_response:
            self._first_response(cid, first_response, now)

    def _first_response(self, cid: str, fact: dict[str, Any], now: datetime) -> None:
        conversation = self.conversation(cid) or {}
        try:
            self.ddb.update_item(
                TableName=self.table, Key=conversation_key(cid),
                UpdateExpression="SET first_response_at = :t, first_response_by = :a, "
                                 "first_response_minutes = :w, first_response_business_minutes = :b",
                ConditionExpression="attribute_not_exists(first_response_at)",
                ExpressionAttributeValues=to_item({":t": fact["at"], ":a": fact["agent"],
                                                   ":w": fact["wall_minutes"], ":b": fact["business_minutes"]}))
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return
        # A fact per answered conversation, by day: what the stats and the measured reply time read
        self.ddb.put_item(TableName=self.table, Item=to_item({
            "pk": facts_partition(fact["at"][:10], cid), "sk": f"first_response#{conversation.get('channel', '')}#{cid}",
            "channel": conversation.get("channel", ""), "agent": fact["agent"], "conversation_id": cid,
            "wall_minutes": fact["wall_minutes"], "business_minutes": fact["business_minutes"],
            "sla_met": fact.get("sla_met"), TTL_ATTRIBUTE: expiry(now, FACTS_DAYS)}))

    def mark_confirmed(self, action_id: str) -> None:
        self.ddb.update_item(TableName=self.table, Key=desk_key(action_id),
                             UpdateExpression="SET confirmed = :y", ExpressionAttributeValues=to_item({":y": True}))

    def set_desk_ref(self, conversation: dict[str, Any], surface: str, ref: dict[str, Any]) -> bool:
        """The surface's thread of a conversation, both ways: on the conversation, and a key that
        finds the conversation from the thread (an agent's message names only its thread), kept as
        long as the conversation (`conversation`: as read, for its id and expiry)."""
        conversation_id, keep = conversation["conversation_id"], conversation.get(TTL_ATTRIBUTE)
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table, "Key": conversation_key(conversation_id),
                            "UpdateExpression": "SET #ref = :ref",
                            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#ref)",
                            "ExpressionAttributeNames": {"#ref": f"desk_{surface}"},
                            "ExpressionAttributeValues": to_item({":ref": ref})}},
                {"Put": {"TableName": self.table, "Item": to_item({
                    **_from_key(thread_key(surface, ref["thread"])), "conversation_id": conversation_id,
                    TTL_ATTRIBUTE: keep})}},
            ])
            return True
        except self.ddb.exceptions.TransactionCanceledException:
            return False

    def thread_conversation(self, surface: str, thread: str) -> str | None:
        item = from_item(self.ddb.get_item(TableName=self.table, Key=thread_key(surface, thread)).get("Item"))
        return item["conversation_id"] if item else None

    def mark_mirrored(self, channel: str, event_id: str, now: datetime) -> bool:
        try:
            self.ddb.update_item(TableName=self.table, Key=event_key(channel, event_id),
                                 UpdateExpression="SET desk_mirrored_at = :t",
                                 ConditionExpression="attribute_exists(pk)",
                                 ExpressionAttributeValues=to_item({":t": iso(now)}))
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False

    def set_conversation_flag(self, conversation_id: str, flag: str) -> bool:
        """Set a once-only flag (a notice shown in the desk); False when it was set already."""
        try:
            self.ddb.update_item(TableName=self.table, Key=conversation_key(conversation_id),
                                 UpdateExpression="SET #f = :y", ConditionExpression="attribute_not_exists(#f)",
                                 ExpressionAttributeNames={"#f": flag},
                                 ExpressionAttributeValues=to_item({":y": True}))
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False


def _merge_updates(items: list[dict[str, Any]], key: dict[str, Any]) -> list[dict[str, Any]]:
    """A transaction may touch an item once: fold every update of the conversation into the first
    one (SET and REMOVE clauses joined, values merged; placeholders here never collide)."""
    mine = [i for i in items if "Update" in i and i["Update"]["Key"] == key]
    if len(mine) < 2:
        return items
    clauses: dict[str, list[str]] = {"SET": [], "REMOVE": [], "ADD": []}
    values, names, condition = {}, {}, None
    for item in mine:
        update = item["Update"]
        parts = re.split(r"\b(SET|REMOVE|ADD) ", update["UpdateExpression"])
        for verb, body in zip(parts[1::2], parts[2::2]):
            clauses[verb].append(body.strip().rstrip(","))
        values.update(update.get("ExpressionAttributeValues", {}))
        names.update(update.get("ExpressionAttributeNames", {}))
        condition = condition or update.get("ConditionExpression")
    merged = {"TableName": mine[0]["Update"]["TableName"], "Key": key,
              "UpdateExpression": " ".join(f"{verb} {', '.join(bodies)}" for verb, bodies in clauses.items() if bodies),
              "ExpressionAttributeValues": values}
    if names:
        merged["ExpressionAttributeNames"] = names
    if condition:
        merged["ConditionExpression"] = condition
    first = items.index(mine[0])
    rest = [i for i in items if i not in mine]
    return rest[:first] + [{"Update": merged}] + rest[first:]
