"""Retention that deletes: the raw-mail bucket's lifecycle covers the receipt rule's prefix, expires
noncurrent versions and lone delete markers (an erased or expired mail leaves nothing behind), and
keeps raw mail no longer than the table keeps the message parsed from it."""
from __future__ import annotations

import yaml

from conftest import ROOT


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node))})


def template():
    return yaml.load((ROOT / "infra" / "resources.yaml").read_text(encoding="utf-8"), Loader=_Loader)


def test_the_mail_lifecycle_expires_current_and_noncurrent_versions_under_the_inbound_prefix():
    found = template()
    rules = found["Resources"]["MailBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    prefix = found["Resources"]["ReceiptRule"]["Properties"]["Rule"]["Actions"][0]["S3Action"]["ObjectKeyPrefix"]
    assert all(r["Prefix"] == prefix and r["Status"] == "Enabled" for r in rules)
    expire = next(r for r in rules if "ExpirationInDays" in r)
    assert expire["ExpirationInDays"] == {"Ref": "MailRetentionDays"}
    assert expire["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert any(r.get("ExpiredObjectDeleteMarker") is True for r in rules)


def test_raw_mail_is_kept_no_longer_than_the_messages():
    from functions.settings import load_settings_file

    days = template()["Parameters"]["MailRetentionDays"]["Default"]
    assert days <= load_settings_file(str(ROOT / "firstreply.yaml")).retention_days
