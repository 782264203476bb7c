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
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = ("functions", "integrations", "templates")
# the settings the functions start from until an admin saves some (FIRSTREPLY_CONFIG, relative to /var/task)
SETTINGS_FILE = "firstreply.yaml"
# The Lambda runtime, chosen here and not by the Python that runs `make package` (Chalice would take
# that one's version): the functions run on it and the wheels are downloaded for it (cp312, aarch64).
LAMBDA_RUNTIME = "python3.12"
MERGE_TEMPLATE = ROOT / "infra" / "resources.yaml"
TEMPLATE_NAME = "sam.yaml"
# The zip's bytecode is compiled for the runtime's version and no other: a .pyc of another version
# is ignored by the runtime, and the package would compile from source on every cold start.
LAMBDA_PYTHON = LAMBDA_RUNTIME.removeprefix("python")


def chalice_for_runtime() -> None:
    """`chalice package …` with LAMBDA_RUNTIME as its runtime (`python -c` runs this). Chalice takes
    the runtime from the running Python, and its packager asks pip for wheels with `--abi` but no
    `--python-version`, so pip looks for the running version's wheels, finds none for another
    runtime and Chalice builds the sdist here: an x86_64, wrong-version extension in an arm64 zip."""
    import chalice.config
    from chalice.cli import main
    from chalice.deploy import packager

    chalice.config.Config.lambda_python_version = property(lambda self: LAMBDA_RUNTIME)
    execute = packager.PipRunner._execute

    def with_python_version(self, command, args=None, *rest, **kwargs):
        if command == "download" and args and "--abi" in args:
            args = [*args, "--python-version", LAMBDA_RUNTIME.removeprefix("python")]
        return execute(self, command, args, *rest, **kwargs)

    packager.PipRunner._execute = with_python_version
    sys.exit(main())


# Stages (issue 18): many stacks in one account. Every name a stack creates starts with its prefix
# (infra/resources.yaml's NamePrefix); the default stage keeps the names stacks had before stages,
# so an existing deployment updates in place (a renamed table would be a new, empty one).
DEFAULT_STAGE = "prod"
STAGE_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")   # short: the mail bucket's name also holds account and region


def check_stage(stage: str) -> str:
    if not STAGE_NAME.match(stage):
        raise SystemExit(f"firstreply: stage {stage!r}: 1-10 lowercase letters and digits, starting with a letter")
    return stage


def name_prefix(stage: str) -> str:
    return "firstreply" if check_stage(stage) == DEFAULT_STAGE else f"firstreply-{stage}"


def secrets_path(stage: str) -> str:
    return f"/firstreply/{check_stage(stage)}"


def stage_names(stage: str) -> dict[str, str]:
    """The names the stage's functions are given (infra/resources.yaml's Globals), as environment."""
    prefix = name_prefix(stage)
    return {"FIRSTREPLY_TABLE": prefix, "FIRSTREPLY_QUEUE": f"{prefix}-work.fifo",
            "FIRSTREPLY_DEAD_LETTER_QUEUE": f"{prefix}-dead.fifo", "FIRSTREPLY_DELAY_QUEUE": f"{prefix}-delay",
            "FIRSTREPLY_DELAY_DEAD_LETTER_QUEUE": f"{prefix}-delay-dead",
            "FIRSTREPLY_FAILED_EVENTS_QUEUE": f"{prefix}-failed-events",
            "FIRSTREPLY_MAIL_TOPIC": f"{prefix}-inbound-mail", "FIRSTREPLY_SECRETS_PATH": secrets_path(stage)}


def stage_environment(stage: str) -> dict[str, str]:
    """The stage's environment variables: `app.py` reads some at import (queue and topic names,
    the Cognito setting), and Chalice imports it while packaging. Any stage name works: the
    settings in `.chalice/config.json` are shared, a stage block there only adds to them."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    return {**config.get("environment_variables", {}), **stage_names(stage),
            **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}


def for_stage(template: dict, stage: str) -> dict:
    """The template bound to its stage: the name prefix and the secrets' path as the parameters'
    defaults, the prefix the only value allowed (a stage's functions and its names must agree)."""
    parameters = template["Parameters"]
    parameters["NamePrefix"].update(Default=name_prefix(stage), AllowedValues=[name_prefix(stage)])
    parameters["SecretsPath"]["Default"] = secrets_path(stage)
    return template


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


def build(stage: str = DEFAULT_STAGE, out: Path = ROOT / "build") -> Path:
    check_stage(stage)
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
        subprocess.run([sys.executable, "-c", "from cli.package import chalice_for_runtime; chalice_for_runtime()",
                        "package", "--stage", stage,
                        "--merge-template", str(MERGE_TEMPLATE), "--template-format", "yaml", str(out)],
                       cwd=ROOT, env=env, check=True)
    finally:
        shutil.rmtree(vendor, ignore_errors=True)
    name_granted_secrets(out / TEMPLATE_NAME)
    import yaml

    written = out / TEMPLATE_NAME
    template = yaml.safe_load(written.read_text(encoding="utf-8"))
    written.write_text(yaml.safe_dump(for_stage(template, stage), allow_unicode=True, sort_keys=False, width=120),
                       encoding="utf-8")
    before, after = slim(out / "deployment.zip")
    print(f"firstreply package: {out / 'deployment.zip'} {after / 1e6:.1f} MB (was {before / 1e6:.1f} MB "
          f"before dropping unused locale data and caches), {out / TEMPLATE_NAME}")
    add_bytecode(out / "deployment.zip")
    return out


def granted_secrets(role: dict) -> list[str]:
    """The secret names a role's `ssm:GetParameters` statements grant (`…parameter${SecretsPath}/NAME`)."""
    names = []
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            actions = statement.get("Action", [])
            actions = actions if isinstance(actions, list) else [actions]
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if "ssm:GetParameters" in actions:
                names += [r["Fn::Sub"].rsplit("/", 1)[1] for r in resources if isinstance(r, dict) and "Fn::Sub" in r]
    return names


def name_granted_secrets(template_path: Path) -> None:
    """Each function is told the secrets its role may read (secrets.GRANTED_VARIABLE), so its first
    secret brings the others in the same GetParameters call, and never asks for one it may not read
    (the call fails as a whole). Derived from the grants, so the two cannot disagree."""
    import yaml

    from integrations.secrets import GRANTED_VARIABLE

    template = yaml.safe_load(template_path.read_text(encoding="utf-8"))
    resources = template["Resources"]
    for function in resources.values():
        if function["Type"] != "AWS::Serverless::Function":
            continue
        role = function["Properties"].get("Role")
        role = role.get("Fn::GetAtt", [None]) if isinstance(role, dict) else [None]
        role = role.split(".")[0] if isinstance(role, str) else role[0]
        names = granted_secrets(resources[role]) if role in resources else []
        if names:
            variables = function["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
            variables[GRANTED_VARIABLE] = ",".join(names)
    template_path.write_text(yaml.safe_dump(template, sort_keys=False, width=120), encoding="utf-8")


# Where `make install` puts the CPython of the runtime's version when this machine has none (the
# npm registry's Pyodide, run by Node.js: cli/bytecode/), and the script that compiles with it.
RUNTIME_PYTHON_DIR = ROOT / ".venv" / "runtime-python"
COMPILE_SCRIPT = ROOT / "cli" / "bytecode" / "compile.js"


def bytecode_compiler(version: str = LAMBDA_PYTHON) -> list[str] | None:
    """The command that compiles a folder (then its prefix) for Python `version`: this Python or a
    native `pythonX.Y` when one is that version, else Pyodide's CPython under Node.js; None when
    there is none."""
    native = sys.executable if f"{sys.version_info[0]}.{sys.version_info[1]}" == version else shutil.which(
        f"python{version}")
    if native and native != sys.executable:   # a version manager's shim may be there and not run
        probe = subprocess.run([native, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        native = native if probe.returncode == 0 and probe.stdout.strip() == version else None
    if native:
        return [native, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-p"]
    node = shutil.which("node")
    if node and (RUNTIME_PYTHON_DIR / "node_modules" / "pyodide").is_dir():
        return [node, str(COMPILE_SCRIPT), version]
    return None


def add_bytecode(zip_path: Path, version: str = LAMBDA_PYTHON) -> int:
    """Add `__pycache__/*.cpython-XY.pyc` for every `.py` in the zip, compiled by a Python of the
    runtime's version with `unchecked-hash` invalidation: the runtime loads them as they are, never
    stats the source, never tries to rewrite them on its read-only disk. Without them every cold
    start compiles what it imports (measured at +126 ms on the Telegram path, +218 ms on Slack).
    Without a Python of that version the zip stays without bytecode (another version's would be
    ignored by the runtime), and this says so."""
    import tempfile

    compiler = bytecode_compiler(version)
    if compiler is None:
        print(f"\nfirstreply package: WARNING: no Python {version} to compile the runtime's bytecode with "
              f"(`make install` gets one: Node.js and npm install {RUNTIME_PYTHON_DIR.name}). The zip has NO "
              f"bytecode: every cold start in AWS compiles the code it imports.\n", file=sys.stderr, flush=True)
        return 0
    with tempfile.TemporaryDirectory() as staging, zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED,
                                                                    compresslevel=9) as archive:
        sources = [n for n in archive.namelist() if n.endswith(".py")]
        for name in sources:
            archive.extract(name, staging)
        if compiler[1] == str(COMPILE_SCRIPT):
            command = [*compiler, staging, "/var/task"]
            env = {**os.environ, "NODE_PATH": str(RUNTIME_PYTHON_DIR / "node_modules")}
        else:   # tracebacks name the file where Lambda unpacks it (/var/task), not this temporary folder
            command, env = [*compiler, "/var/task", "-s", staging, staging], None
        subprocess.run(command, check=True, env=env)
        compiled = sorted(p for p in Path(staging).rglob("*.pyc"))
        for path in compiled:
            archive.write(path, path.relative_to(staging).as_posix())
    print(f"firstreply package: {len(compiled)} modules compiled for Python {version} "
          f"({zip_path.stat().st_size / 1e6:.1f} MB with bytecode)")
    return len(compiled)


# -- cfn-lint in every region, mail receiving on and off ------------------------------------------------
MAIL_CONDITION = "EmailEnabled"


def with_email(template: dict, enabled: bool) -> dict:
    """The template as CloudFormation deploys it with EnableEmail set: resources and outputs under
    the mail condition kept or dropped, `Fn::If` on it resolved (cfn-lint does not prune by parameters,
    so it would report SES receiving types in regions without them even when they are switched off)."""
    import copy

    dropped = object()

    def resolve(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::If"} and node["Fn::If"][0] == MAIL_CONDITION:
                chosen = node["Fn::If"][1 if enabled else 2]
                return dropped if chosen == {"Ref": "AWS::NoValue"} else resolve(chosen)
            found = {k: resolve(v) for k, v in node.items()}
            return {k: v for k, v in found.items() if v is not dropped}
        if isinstance(node, list):
            return [v for v in (resolve(v) for v in node) if v is not dropped]
        return node

    result = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        kept = {}
        for name, value in result[section].items():
            if value.get("Condition") == MAIL_CONDITION:
                if not enabled:
                    continue
                value = {k: v for k, v in value.items() if k != "Condition"}
            kept[name] = value
        result[section] = kept
    result = resolve(result)
    for condition in list(result.get("Conditions", {})):     # what only the mail parts used
        rest = {k: v for k, v in result.items() if k != "Conditions"}
        others = {k: v for k, v in result["Conditions"].items() if k != condition}
        if f"'{condition}'" not in repr(rest) + repr(others):
            del result["Conditions"][condition]
    result["Parameters"]["EnableEmail"].update(Default=str(enabled).lower(), AllowedValues=[str(enabled).lower()])
    return result


def lint_regions(enabled: bool) -> list[str]:
    """Every region cfn-lint knows outside the isolated (secret-cloud) partitions no business deploys
    to; with mail on, those where SES receives mail (its receipt-rule resource types exist there)."""
    from cfnlint.helpers import REGIONS
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    from cfnlint.schema import ResourceNotFoundError

    def receives(region: str) -> bool:
        try:
            PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, "AWS::SES::ReceiptRule")
            return True
        except ResourceNotFoundError:
            return False

    isolated = ("us-iso", "eu-isoe", "eusc-")
    return [r for r in REGIONS if not r.startswith(isolated) and (not enabled or receives(r))]


def lint(out: Path = ROOT / "build", regions: int | None = None) -> int:
    """cfn-lint over the template with mail on (the regions that receive mail) and off (all)."""
    import yaml

    with open(out / TEMPLATE_NAME, encoding="utf-8") as fh:
        template = yaml.safe_load(fh)
    failed = 0
    for enabled in (True, False):
        path = out / f"sam-email-{'on' if enabled else 'off'}.yaml"
        path.write_text(yaml.safe_dump(with_email(template, enabled), sort_keys=False), encoding="utf-8")
        chosen = lint_regions(enabled)
        if not enabled:   # where mail is received the template with it is linted; chat-only: the rest, and one
            receiving = lint_regions(True)
            chosen = [r for r in chosen if r not in receiving] + receiving[:1]
        chosen = chosen[:regions]
        # one process per region: a single cfn-lint over many regions grows far faster than linearly
        # (20+ CPU minutes for 38 regions; one region takes seconds)
        bad = []
        for region in chosen:
            result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "-r", region, "--", str(path)],
                                    capture_output=True, text=True)
            if result.returncode:
                bad.append(region)
                print(result.stdout + result.stderr, end="")
        print(f"cfn-lint {path.name}: {len(chosen)} regions, " + (f"FAILED in {', '.join(bad)}" if bad else "clean"),
              flush=True)
        failed |= bool(bad)
    return failed


if __name__ == "__main__":
    sys.exit(lint())
