# firstreply: `make dev` runs everything locally, `make test` runs the tests. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000
STAGE  ?= prod
# The admin page is tested in Debian's Chromium (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install dev test test-now lint bench clean package deploy cfn-lint

# The Lambda runtime's Python (3.12) compiles the zip's bytecode: Pyodide's CPython from the npm
# registry, run by Node.js (this machine's Python is another version). Without Node.js the package
# is built without bytecode, and says so.
RUNTIME_PYTHON := $(VENV)/runtime-python/node_modules/pyodide/package.json

install: $(STAMP) $(RUNTIME_PYTHON)

$(RUNTIME_PYTHON): cli/bytecode/package.json cli/bytecode/package-lock.json
	mkdir -p $(VENV)/runtime-python
	cp cli/bytecode/package.json cli/bytecode/package-lock.json $(VENV)/runtime-python/
	@if command -v npm >/dev/null; then cd $(VENV)/runtime-python && npm ci --no-audit --no-fund --silent && touch node_modules/pyodide/package.json; \
	else echo "make install: WARNING: no npm here, so no Python 3.12 to compile the package's bytecode (install Node.js and npm)"; fi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

dev: install
	$(BIN)/firstreply dev --port $(PORT)

# The suite at today's date and, beside it on the second core, with the date moved more than a year
# ahead across a DST change of the business time zone (tests/time_travel.py)
test: install lint cfn-lint $(CHROMIUM)
	$(BIN)/python tests/time_travel.py --beside-today

# The suite once, at today's date, without lint, packaging or the moved run
test-now: install
	$(BIN)/python -m pytest

# The deployment zip (arm64 wheels, no boto3) and the CloudFormation template, in build/
package: install
	$(BIN)/firstreply package --stage $(STAGE)

# every region, with mail receiving on (where SES receives mail) and off (everywhere)
cfn-lint: package
	$(BIN)/python -m cli.package

# Package, then deploy with CloudFormation to the account and region of your AWS credentials
deploy: install
	$(BIN)/firstreply deploy --stage $(STAGE)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "make test: install Chromium (/usr/bin/chromium) for the admin page test"; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null

lint: install
	$(BIN)/python -m pyflakes app.py functions integrations cli bench/*.py tests   # not bench/.venv-peers

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/warm_telegram.py
	$(BIN)/python bench/jobs_index.py

clean:
	rm -rf $(VENV) build .pytest_cache
