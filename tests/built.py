"""The package `make package` writes to build/, rebuilt here when the sources are newer (a stale
template would let the template tests check yesterday's roles)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
SOURCES = ("infra/resources.yaml", ".chalice/config.json", "app.py", "requirements.txt", "cli/package.py")


def _stale() -> bool:
    outputs = [BUILD / "deployment.zip", BUILD / "sam.yaml"]
    if not all(p.exists() for p in outputs):
        return True
    built = min(p.stat().st_mtime for p in outputs)
    return any((ROOT / source).stat().st_mtime > built for source in SOURCES)


def load_template(path: Path = BUILD / "sam.yaml") -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def package() -> tuple[zipfile.ZipFile, dict]:
    if _stale():
        from cli.package import build

        build("prod", BUILD)
    return zipfile.ZipFile(BUILD / "deployment.zip"), load_template()


def functions(template: dict) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
