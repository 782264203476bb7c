"""Admin: the settings document and the edited templates, each with its versions."""
from __future__ import annotations

import dataclasses
import json
import time as _time
from datetime import datetime
from typing import Any

from functions.clock import iso
from functions.settings import Settings, load_settings_file, parse_settings
from integrations.dynamodb import (SETTINGS_KEY, SETTINGS_TTL_SECONDS, TEMPLATES_PARTITION, from_item, to_item,
                                   version_key)


class VersionConflict(Exception):
    """A save that expected another current version: someone saved in between."""

    def __init__(self, current: int):
        super().__init__(f"the current version is {current}")
        self.current = current


class AdminStore:
    """A mixin of `DynamoStore`."""

    def load_settings(self) -> Settings:
        """The settings with the admins' edited templates; read at most every 30 s per container."""
        with self._lock:
            cached = self._settings
            if cached and _time.monotonic() - cached[0] < SETTINGS_TTL_SECONDS:
                return cached[1]
            item = self.settings_record()
            if item:
                settings = parse_settings(json.loads(item["document"]))
            else:   # never seeded: the file that ships with the deployment
                settings = load_settings_file(self.config_path)
            settings = dataclasses.replace(settings, templates={
                identifier: t["source"] for identifier, t in self.edited_templates().items()},
                measured_response=(item or {}).get("measured_response") or {})
            self._settings = (_time.monotonic(), settings)
            return settings

    def settings_record(self) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, Key=SETTINGS_KEY,
                                           ConsistentRead=True).get("Item"))

    def save_settings(self, settings: Settings, by: str, now: datetime,
                      expected_version: int | None = None) -> int:
        """Store a validated settings document as a new version, with a history entry of who and
        when; `expected_version` (0: never saved) guards against overwriting someone's change."""
        record = self.settings_record()
        current = int(record.get("version", 0)) if record else 0
        document = json.dumps(settings.source, ensure_ascii=False)
        # the measured reply time lives on this item too (the expected-reply job's): carried over
        measured = {"measured_response": record["measured_response"]} if record and record.get("measured_response") else {}
        return self._save_version(SETTINGS_KEY, "SETTINGS", current, expected_version,
                                  {"document": document, "updated_at": iso(now), "updated_by": by, **measured})

    def settings_history(self, limit: int = 20) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k not in ("pk", "sk")}
                for item in self._query("SETTINGS", "V#", newest_first=True, limit=limit)]

    # -- templates edited by admins ---------------------------------------------------------------
    def template(self, identifier: str) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table, ConsistentRead=True, Key=to_item(
            {"pk": TEMPLATES_PARTITION, "sk": identifier})).get("Item"))

    def edited_templates(self) -> dict[str, dict[str, Any]]:
        return {t["sk"]: t for t in self._query(TEMPLATES_PARTITION)}

    def template_versions(self, identifier: str, limit: int = 50) -> list[dict[str, Any]]:
        return self._query(f"TEMPLATE#{identifier}", "V#", newest_first=True, limit=limit)

    def template_version(self, identifier: str, version: int) -> dict[str, Any] | None:
        return from_item(self.ddb.get_item(TableName=self.table,
                                           Key=version_key(f"TEMPLATE#{identifier}", version)).get("Item"))

    def save_template(self, identifier: str, source: str, expected_version: int, by: str, now: datetime,
                      note: str = "") -> int:
        """Save a checked source as the template's next version (the shipped file is version 0)."""
        key = to_item({"pk": TEMPLATES_PARTITION, "sk": identifier})
        record = self.template(identifier)
        current = int(record["version"]) if record else 0
        return self._save_version(key, f"TEMPLATE#{identifier}", current, expected_version,
                                  {"source": source, "updated_at": iso(now), "updated_by": by, "note": note})

    def _save_version(self, key: dict[str, Any], history: str, current: int, expected: int | None,
                      fields: dict[str, Any]) -> int:
        """Put the current item and its history entry in one transaction, on the condition that
        the current version is still the one the writer saw; this container's cached settings
        (which carry the templates) are dropped."""
        if expected is not None and expected != current:
            raise VersionConflict(current)
        version = current + 1
        condition = ({"ConditionExpression": "attribute_not_exists(pk)"} if current == 0 else
                     {"ConditionExpression": "version = :seen",
                      "ExpressionAttributeValues": to_item({":seen": current})})
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": {**key, **to_item({**fields, "version": version})},
                         **condition}},
                {"Put": {"TableName": self.table, "ConditionExpression": "attribute_not_exists(pk)",
                         "Item": {**version_key(history, version), **to_item({**fields, "version": version})}}},
            ])
        except self.ddb.exceptions.TransactionCanceledException:
            raise VersionConflict(current) from None
        with self._lock:
            self._settings = None
        return version
