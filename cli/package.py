"""`firstreply package`: the deployment zip and the CloudFormation template, in `build/`.

Chalice packages `app.py`, `chalicelib/` and `vendor/` only, so the code folders are staged into
`vendor/` (their contents land at the zip's root, where `app.py` imports them). Chalice downloads
the arm64 wheels of `requirements.txt` (boto3 and botocore are not in it: the Lambda runtime has
them) and merges `infra/resources.yaml` into the template. Afterwards the zip loses what never
runs: Babel's locale data for languages no template is written in (10 of its 17 MB), caches.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("functions", "integrations", "templates")
# the settings the functions start from until an admin saves some (FIRSTREPLY_CONFIG, relative to /var/task)
SETTINGS_FILE = "firstreply.yaml"
MERGE_TEMPLATE = ROOT / "infra" / "resources.yaml"
TEMPLATE_NAME = "sam.yaml"
# The Python of the Lambda runtime the template names (Chalice writes the runtime of the Python that
# packages). The zip's bytecode is compiled for this version and no other: a .pyc of another
# version is ignored by the runtime, and the package would compile from source on every cold start.
LAMBDA_PYTHON = "3.11"


def stage_environment(stage: str) -> dict[str, str]:
    """The stage's environment variables: `app.py` reads some at import (queue and topic names,
    the Cognito setting), and Chalice imports it while packaging."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    if stage not in config.get("stages", {}):
        raise SystemExit(f"firstreply package: no stage {stage!r} in .chalice/config.json")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def languages() -> set[str]:
    return {p.name.split(".")[-2] for p in (ROOT / "templates").glob("*.j2")}


def needed(name: str, keep_languages: set[str]) -> bool:
    """Whether a zip entry is used at run time."""
    if "__pycache__/" in name or name.endswith((".pyc", ".pyi")):
        return False
    if name.startswith("babel/locale-data/") and name.endswith(".dat"):
        locale = name.rsplit("/", 1)[1][:-4]
        return locale == "root" or locale.split("_")[0] in keep_languages
    return True


def slim(zip_path: Path) -> tuple[int, int]:
    """Rewrite the zip without what never runs; (bytes before, bytes after)."""
    before = zip_path.stat().st_size
    keep_languages = languages()
    slimmed = zip_path.with_suffix(".slim")
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(slimmed, "w", zipfile.ZIP_DEFLATED,
                                                                compresslevel=9) as target:
        for info in source.infolist():
            if needed(info.filename, keep_languages):
                target.writestr(info, source.read(info.filename), compress_type=zipfile.ZIP_DEFLATED,
                                compresslevel=9)
    slimmed.replace(zip_path)
    return before, zip_path.stat().st_size


def build(stage: str = "prod", out: Path = ROOT / "build") -> Path:
    vendor = ROOT / "vendor"
    if vendor.exists():
        shutil.rmtree(vendor)
    vendor.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in CODE:
        shutil.copytree(ROOT / folder, vendor / folder, ignore=ignore)
    shutil.copy(ROOT / SETTINGS_FILE, vendor / SETTINGS_FILE)
    if out.exists():
        shutil.rmtree(out)
    staged = stage_environment(stage)
    env = {**os.environ, **staged}
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION") or "us-east-1")   # chalice wants one
    for variable in ("AWS_ENDPOINT_URL", "FIRSTREPLY_ADMIN_COGNITO_ARN"):   # this shell's, not the stage's
        if variable not in staged:
            env.pop(variable, None)
    try:
        subprocess.run([str(Path(sys.executable).parent / "chalice"), "package", "--stage", stage,
                        "--merge-template", str(MERGE_TEMPLATE), "--template-format", "yaml", str(out)],
                       cwd=ROOT, env=env, check=True)
    finally:
        shutil.rmtree(vendor, ignore_errors=True)
    before, after = slim(out / "deployment.zip")
    print(f"firstreply package: {out / 'deployment.zip'} {after / 1e6:.1f} MB (was {before / 1e6:.1f} MB "
          f"before dropping unused locale data and caches), {out / TEMPLATE_NAME}")
    add_bytecode(out / "deployment.zip")
    return out


def add_bytecode(zip_path: Path, version: str = LAMBDA_PYTHON) -> int:
    """Add `__pycache__/*.cpython-XY.pyc` for every `.py` in the zip, compiled by a Python of the
    runtime's version with `unchecked-hash` invalidation: the runtime loads them as they are, never
    stats the source, never tries to rewrite them on its read-only disk. Without them every cold
    start compiles what it imports (measured at +126 ms on the Telegram path, +218 ms on Slack)."""
    import tempfile

    python = sys.executable if f"{sys.version_info[0]}.{sys.version_info[1]}" == version else shutil.which(
        f"python{version}")
    if not python:
        raise SystemExit(f"firstreply package: no python{version} here to compile the runtime's bytecode with")
    with tempfile.TemporaryDirectory() as staging, zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED,
                                                                    compresslevel=9) as archive:
        sources = [n for n in archive.namelist() if n.endswith(".py")]
        for name in sources:
            archive.extract(name, staging)
        # tracebacks name the file where Lambda unpacks it (/var/task), not this temporary folder
        subprocess.run([python, "-m", "compileall", "-q", "-j", "0", "-s", staging, "-p", "/var/task",
                        "--invalidation-mode", "unchecked-hash", staging], check=True)
        compiled = sorted(p for p in Path(staging).rglob("*.pyc"))
        for path in compiled:
            archive.write(path, path.relative_to(staging).as_posix())
    print(f"firstreply package: {len(compiled)} modules compiled for Python {version} "
          f"({zip_path.stat().st_size / 1e6:.1f} MB with bytecode)")
    return len(compiled)
