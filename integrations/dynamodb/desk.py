"""The desk: agents' actions on a conversation, and which surface thread shows which conversation.

An action is written once, in one transaction: its record `DESK#{action id}` (the dedupe key, with
what is left to do: delivery, confirmation), its line in the conversation's history (beside the
customer's messages, so one query reads the whole story in order) and what it changes on the
conversation (state, assignee, priority; closing also makes the transcript and survey due, as
close-idle does).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.clock import iso
from integrations.dynamodb import (TTL_ATTRIBUTE, _from_key, chat_key, conversation_key, event_key, expiry,
                                   facts_partition, from_item, open_partition, to_item)
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
        changes, outcome = self._changes(action, conversation, now, tasks)
        record = {**_from_key(desk_key(action.action_id)), "action": action.to_dict(), "conversation_id": cid,
                  "kind": kind, "at": at, "history_sk": history_sk, "outcome": outcome,
                  "delivery": "pending" if kind == "reply" else None, TTL_ATTRIBUTE: keep}
        line = {"pk": f"CONV#{cid}", "sk": history_sk, "direction": "out" if kind == "reply" else "desk",
                "kind": kind, "agent": action.agent.id, "agent_name": action.agent.name,
                "text": action.text or None, "value": action.value or None, "sent_at": at,
                "surface": action.origin.get("surface"), "delivery": record["delivery"],
                "outcome": outcome, TTL_ATTRIBUTE: keep}
        items = [{"Put": {"TableName": self.table, "Item": to_item(record),
                          "ConditionExpression": "attribute_not_exists(pk)"}},
                 {"Put": {"TableName": self.table, "Item": to_item(line)}}, *changes]
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
                {"Put": {"TableName": self.table, "Item": to_item(line)}}])
        return record

    def _changes(self, action, conversation: dict[str, Any], now: datetime,
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
            TTL_ATTRIBUTE: expiry(now, FACTS_DAYS)}))

    def mark_confirmed(self, action_id: str) -> None:
        self.ddb.update_item(TableName=self.table, Key=desk_key(action_id),
                             UpdateExpression="SET confirmed = :y", ExpressionAttributeValues=to_item({":y": True}))

    def set_desk_ref(self, conversation_id: str, surface: str, ref: dict[str, Any]) -> bool:
        """The surface's thread of a conversation, both ways: on the conversation, and a key that
        finds the conversation from the thread (an agent's message names only its thread)."""
        conversation = self.conversation(conversation_id) or {}
        keep = conversation.get(TTL_ATTRIBUTE)
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
