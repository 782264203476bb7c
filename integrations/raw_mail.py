"""The raw mails SES stored in the bucket: read one for an export, delete one with every version.

The bucket may be versioned (or have been once): deleting only the current object would leave the
mail behind as a noncurrent version under a delete marker, so erasure deletes each version and each
delete marker of the key by its version id.
"""
from __future__ import annotations

from integrations.aws import client
from integrations.ses import MAIL_BUCKET


class RawMailBucket:
    def __init__(self, bucket: str = MAIL_BUCKET):
        self.bucket = bucket

    def get(self, key: str) -> bytes | None:
        s3 = client("s3")
        try:
            return s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
            return None

    def delete_all_versions(self, key: str) -> int:
        """Delete every version and delete marker of exactly `key`; returns how many were removed."""
        s3 = client("s3")
        removed = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
            found = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", []) if v["Key"] == key]
            for start in range(0, len(found), 1000):
                answer = s3.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": found[start:start + 1000], "Quiet": True})
                if answer.get("Errors"):
                    raise RuntimeError(f"S3 kept {len(answer['Errors'])} version(s) of a raw mail; run again")
                removed += len(found[start:start + 1000])
        return removed
