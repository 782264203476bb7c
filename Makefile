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

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

dev: install
	$(BIN)/firstreply dev --port $(PORT)

test: install lint cfn-lint $(CHROMIUM)
	$(BIN)/python -m pytest

# The suite once, at today's date (what `make test` runs first)
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
	$(BIN)/python -m pyflakes app.py functions integrations cli bench tests

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/warm_telegram.py
	$(BIN)/python bench/jobs_index.py

clean:
	rm -rf $(VENV) build .pytest_cache
