"""The inbox, agents and SLA timers: conversations by state (the `gsi2` index), agents' personal
tokens, the SLA timers the SLA job finds through the sparse `gsi1`, the measured reply time, and
the lookups of the inbox search (reference, customer name).

Every list here is a Query of an index partition, a page at a time: a page of the inbox reads about
the page size plus a few items per shard (never more than `STATE_SHARDS` × the page size, times a
bounded budget when a filter is on), whatever the table holds; an SLA run reads the timers that are due.
"""
from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from functions.clock import iso
from integrations.dynamodb import TTL_ATTRIBUTE, SETTINGS_KEY, conversation_key, expiry, from_item, shard_of, to_item

# Conversations by state: every customer message of a waiting conversation rewrites its item, and
# the index projects every attribute, so each message writes STATE#waiting#n (a SLA timer: one write
# when its due time changes). 32 shards keep a shard under 1,000 writes/s up to ~16,000 messages/s on
# waiting conversations (DESIGN.md section 3, bench/capacity.py).
STATE_SHARDS = 32
SLA_SHARDS = 32
FILTER_BUDGET = 5         # with a filter on, a shard reads at most this many pages of the page size
NEWEST_FIRST = {"waiting": False, "answered": True, "closed": True}   # waiting: soonest due first


def state_pk(state: str, conversation_id: str) -> str:
    return f"STATE#{state}#{shard_of(conversation_id, STATE_SHARDS)}"


def sla_key(conversation_id: str) -> dict[str, Any]:
    return to_item({"pk": f"SLA#{conversation_id}", "sk": "SLA"})


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 is enough to make the stored form useless to a
    reader of the table (a slow password hash protects guessable secrets; these are not)."""
    return hashlib.sha256(token.encode()).hexdigest()


def name_tokens(name: str) -> list[str]:
    """The words of a customer's name as the search matches them: case and accents folded."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    words = ["".join(c for c in w if c.isalnum())[:40] for w in plain.split()]
    return list(dict.fromkeys(w for w in words if w))[:4]


def lookup_items(table: str, conversation: dict[str, Any]) -> list[dict[str, Any]]:
    """Transaction items that let the inbox search find a new conversation by its reference and
    by each word of the customer's name (exact keys: no filter over the table)."""
    cid, at = conversation["conversation_id"], conversation["opened_at"]
    common = {"conversation_id": cid, "contact": conversation["contact"],
              TTL_ATTRIBUTE: conversation.get(TTL_ATTRIBUTE)}
    items = [{"pk": f"REF#{conversation['reference']}", "sk": cid, **common}]
    items += [{"pk": f"NAME#{word}", "sk": f"{at}#{cid}", **common}
              for word in name_tokens(conversation.get("name") or "")]
    return [{"Put": {"TableName": table, "Item": to_item(item)}} for item in items]


def _encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def _decode(cursor: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        raise ValueError("cursor: not one this API gave") from None
    if not isinstance(data, dict):
        raise ValueError("cursor: not one this API gave")
    return data


class InboxStore:
    """A mixin of `DynamoStore`."""

    def lookup_keys(self, conversation: dict[str, Any]) -> list[dict[str, Any]]:
        """The keys of the inbox's items about a conversation (search by reference and name, the
        SLA timer): what erasing the customer must remove with it."""
        cid = conversation["conversation_id"]
        keys = [{"pk": f"REF#{conversation.get('reference', '')}", "sk": cid}, {"pk": f"SLA#{cid}", "sk": "SLA"}]
        keys += [{"pk": f"NAME#{word}", "sk": f"{conversation.get('opened_at', '')}#{cid}"}
                 for word in name_tokens(conversation.get("name") or "")]
        return keys

    # -- agents ---------------------------------------------------------------------------------
    def add_agent(self, agent_id: str, name: str, email: str, token: str, now: datetime) -> bool:
        """A new agent and their token (only its hash is stored); False when the name is taken."""
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": to_item({"pk": "AGENTS", "sk": agent_id, "agent_id": agent_id, "name": name,
                                          "email": email or None, "created_at": iso(now),
                                          "token_hash": token_hash(token), "status": "active"})}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": to_item({"pk": f"AGENTTOKEN#{token_hash(token)}", "sk": "TOKEN",
                                          "agent_id": agent_id, "name": name})}},
            ])
            return True
        except self.ddb.exceptions.TransactionCanceledException:
            return False

    def agents(self) -> list[dict[str, Any]]:
        """Everyone ever added (one partition: a team, not a growing log)."""
        return [{k: v for k, v in a.items() if k not in ("pk", "sk", "token_hash")} for a in self._query("AGENTS")]

    def agent_by_token(self, token: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=to_item(
            {"pk": f"AGENTTOKEN#{token_hash(token)}", "sk": "TOKEN"})).get("Item"))

    def revoke_agent(self, agent_id: str, now: datetime) -> bool:
        """The token stops working at once (its item is deleted); the agent stays listed as
        revoked, so what they did keeps a name."""
        agent = from_item(self.ddb.get_item(TableName=self.table, ConsistentRead=True, Key=to_item(
            {"pk": "AGENTS", "sk": agent_id})).get("Item"))
        if not agent or agent.get("status") == "revoked":
            return False
        self.ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": self.table, "Key": to_item({"pk": "AGENTS", "sk": agent_id}),
                        "UpdateExpression": "SET #s = :r, revoked_at = :t",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": to_item({":r": "revoked", ":t": iso(now)})}},
            {"Delete": {"TableName": self.table,
                        "Key": to_item({"pk": f"AGENTTOKEN#{agent['token_hash']}", "sk": "TOKEN"})}},
        ])
        return True

    # -- the inbox list -------------------------------------------------------------------------
    def inbox_page(self, state: str, limit: int, cursor: str | None = None,
                   filters: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a state's conversations in order (waiting: soonest due first; answered and
        closed: latest first), merged from the state's shards. Each shard is read a little at a
        time: first a small share of the page from every shard (in parallel), then more, in growing
        steps, only from a shard whose items the page keeps taking; so a page reads about its own
        size plus a few items a shard, and never more than the page size from any shard. Filters
        (channel, priority, assignee) are applied on the index entries with a bounded budget: a
        page may come back short with a cursor, never after reading the whole partition."""
        positions = _decode(cursor) if cursor else {}
        newest = NEWEST_FIRST[state]
        first = max(2, -(-limit // STATE_SHARDS) + 1)

        def read(n: int, size: int, start) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
            return self._shard_page(f"STATE#{state}#{n}", size, None if start == "start" else start,
                                    newest, filters or {})

        live = [n for n in range(STATE_SHARDS) if positions.get(str(n), "start") is not None]
        with ThreadPoolExecutor(max_workers=8) as pool:
            opened = list(pool.map(lambda n: read(n, min(first, limit), positions.get(str(n), "start")), live))
        # per shard: the items read, how many the page took, where its reading stopped (None: the
        # shard is exhausted) and how many it read (the page takes at most `limit` from one shard)
        shards = {n: {"items": items, "taken": 0, "last": last, "read": min(first, limit)}
                  for n, (items, last) in zip(live, opened)}
        page: list[dict[str, Any]] = []
        while len(page) < limit:
            waiting = [n for n, s in shards.items() if s["taken"] == len(s["items"]) and s["last"] is not None]
            for n in waiting:   # its next item may come before every item read so far: read on
                shard = shards[n]
                size = min(max(shard["read"], first), limit - shard["read"])
                if size <= 0:
                    continue
                more, shard["last"] = read(n, size, shard["last"])
                shard["items"] += more
                shard["read"] += size
            if any(s["taken"] == len(s["items"]) and s["last"] is not None for s in shards.values()):
                break   # a shard still owes its next item (its read budget is spent): a short page
            heads = [(s["items"][s["taken"]].get("gsi2sk", ""), n) for n, s in shards.items()
                     if s["taken"] < len(s["items"])]
            if not heads:
                break
            _, n = max(heads) if newest else min(heads)
            page.append(shards[n]["items"][shards[n]["taken"]])
            shards[n]["taken"] += 1
        following: dict[str, Any] = dict(positions)
        for n, shard in shards.items():
            if shard["taken"] == len(shard["items"]):
                following[str(n)] = shard["last"]            # None: exhausted
            elif shard["taken"]:
                following[str(n)] = _index_key(shard["items"][shard["taken"] - 1])
        more = any(following.get(str(n), "start") is not None for n in range(STATE_SHARDS))
        return page, _encode(following) if more else None

    def _shard_page(self, partition: str, limit: int, start: dict[str, Any] | None, newest: bool,
                    filters: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        names, values, conditions = {}, {":p": partition}, []
        for i, (attribute, value) in enumerate(sorted(filters.items())):
            names[f"#f{i}"] = attribute
            values[f":f{i}"] = value
            conditions.append(f"#f{i} = :f{i}")
        request: dict[str, Any] = {
            "TableName": self.table, "IndexName": "gsi2", "KeyConditionExpression": "gsi2pk = :p",
            "ExpressionAttributeValues": to_item(values), "ScanIndexForward": not newest, "Limit": limit}
        if conditions:
            request.update(FilterExpression=" AND ".join(conditions), ExpressionAttributeNames=names)
        items: list[dict[str, Any]] = []
        last = start
        for _ in range(FILTER_BUDGET if conditions else 1):
            if last:
                request["ExclusiveStartKey"] = to_item(last)
            answer = self.ddb.query(**request)
            items += [from_item(i) for i in answer.get("Items", [])]
            last = from_item(answer.get("LastEvaluatedKey"))
            if not last or len(items) >= limit:
                break
        if len(items) > limit:   # a filtered read may overshoot; resume after the last kept item
            items = items[:limit]
            last = _index_key(items[-1])
        return items, last

    def conversations_by_reference(self, reference: str) -> list[str]:
        return [i["conversation_id"] for i in self._query(f"REF#{reference}", limit=20)]

    def conversations_by_name(self, word: str, limit: int) -> list[str]:
        return [i["conversation_id"] for i in self._query(f"NAME#{word}", newest_first=True, limit=limit)]

    def conversations(self, conversation_ids: list[str]) -> list[dict[str, Any]]:
        """Several conversations by id (BatchGetItem, in the order asked)."""
        found: dict[str, dict[str, Any]] = {}
        keys = [conversation_key(c) for c in dict.fromkeys(conversation_ids)]
        for start in range(0, len(keys), 100):
            request = {self.table: {"Keys": keys[start:start + 100]}}
            for _ in range(5):
                answer = self.ddb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    item = from_item(item)
                    found[item["conversation_id"]] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return [found[c] for c in conversation_ids if c in found]

    # -- SLA ------------------------------------------------------------------------------------
    def set_sla(self, conversation: dict[str, Any], due: dict[str, Any] | None, priority: str,
                now: datetime) -> bool:
        """Put a waiting conversation's due time on it (and its place in the inbox) and its timer
        in the SLA index; only while it is still waiting since the same moment."""
        cid = conversation["conversation_id"]
        values = {":w": "waiting", ":since": conversation["waiting_since"], ":p": priority,
                  ":sk": due["due_at"] if due else conversation["waiting_since"]}
        sets = "SET priority = :p, gsi2sk = :sk"
        removes = ""
        if due:
            sets += ", sla_due_at = :due, sla_kind = :kind"
            values.update({":due": due["due_at"], ":kind": due["kind"]})
        else:
            removes = " REMOVE sla_due_at, sla_kind"
        try:
            self.ddb.update_item(
                TableName=self.table, Key=conversation_key(cid), UpdateExpression=sets + removes,
                ConditionExpression="#state = :w AND waiting_since = :since",
                ExpressionAttributeNames={"#state": "state"}, ExpressionAttributeValues=to_item(values))
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False
        if due:
            self.put_sla_timer(conversation, due, now)
        return True

    def put_sla_timer(self, conversation: dict[str, Any], due: dict[str, Any], now: datetime) -> None:
        """A new due time starts a new timer; the same due time again (a second message while
        waiting, a retried run) keeps the timer and the warnings it gave."""
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item(sla_timer(conversation, due, now)),
                              ConditionExpression="attribute_not_exists(pk) OR due_at <> :due",
                              ExpressionAttributeValues=to_item({":due": due["due_at"]}))
        except self.ddb.exceptions.ConditionalCheckFailedException:
            pass

    def due_sla_timers(self, now: datetime) -> list[dict[str, Any]]:
        """Timers whose next alarm (80 % or breach) has come: reads ∝ due timers."""
        return self._query_shards([f"SLADUE#{n}" for n in range(SLA_SHARDS)], iso(now))

    def advance_sla_timer(self, timer: dict[str, Any], stage: str, now: datetime) -> bool:
        """Claim a timer's alarm once: the warning moves it on to its breach time, the breach
        takes it out of the index. False when another run (or a changed due time) got there first."""
        cid = timer["conversation_id"]
        condition = "gsi1sk = :seen AND due_at = :due"
        values = {":seen": timer["gsi1sk"], ":due": timer["due_at"], ":t": iso(now)}
        if stage == "warn":
            update, values[":stage"] = "SET stage = :stage, gsi1sk = :due, warned_at = :t", "breach"
        else:
            update, values[":stage"] = "SET stage = :stage, breached_at = :t REMOVE gsi1pk, gsi1sk", "done"
        try:
            self.ddb.update_item(TableName=self.table, Key=sla_key(cid), UpdateExpression=update,
                                 ConditionExpression=condition, ExpressionAttributeValues=to_item(values))
            return True
        except self.ddb.exceptions.ConditionalCheckFailedException:
            return False

    def restore_sla_timer(self, timer: dict[str, Any]) -> None:
        """A warning that could not be sent goes back to the next run."""
        self.ddb.update_item(
            TableName=self.table, Key=sla_key(timer["conversation_id"]),
            UpdateExpression="SET stage = :stage, gsi1pk = :pk, gsi1sk = :sk",
            ExpressionAttributeValues=to_item({":stage": timer["stage"], ":pk": timer["gsi1pk"],
                                               ":sk": timer["gsi1sk"]}))

    def drop_sla_timer(self, timer: dict[str, Any]) -> None:
        """A timer whose conversation was answered, closed or given another due time."""
        try:
            self.ddb.update_item(TableName=self.table, Key=sla_key(timer["conversation_id"]),
                                 UpdateExpression="REMOVE gsi1pk, gsi1sk",
                                 ConditionExpression="due_at = :due",
                                 ExpressionAttributeValues=to_item({":due": timer["due_at"]}))
        except self.ddb.exceptions.ConditionalCheckFailedException:
            pass   # rewritten meanwhile: the new timer stays

    # -- measured reply time --------------------------------------------------------------------
    def set_measured_response(self, measured: dict[str, Any]) -> None:
        """Stored on the settings item (read with it, no extra read per message); a settings save
        carries it over."""
        self.ddb.update_item(TableName=self.table, Key=SETTINGS_KEY,
                             UpdateExpression="SET measured_response = :m",
                             ExpressionAttributeValues=to_item({":m": measured}))
        with self._lock:
            self._settings = None


def sla_timer(conversation: dict[str, Any], due: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The SLA timer item of a waiting conversation, in the sparse index at its warning moment."""
    cid = conversation["conversation_id"]
    return {"pk": f"SLA#{cid}", "sk": "SLA", "conversation_id": cid, "due_at": due["due_at"],
            "warn_at": due["warn_at"], "kind": due["kind"], "stage": "warn",
            "gsi1pk": f"SLADUE#{shard_of(cid, SLA_SHARDS)}", "gsi1sk": due["warn_at"],
            TTL_ATTRIBUTE: conversation.get(TTL_ATTRIBUTE) or expiry(now, 60)}


def _index_key(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("pk", "sk", "gsi2pk", "gsi2sk")}
