# Daily loop: `make up` runs CostObs, `make test` runs the tests; both install into .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Project-local tools built from source (helm from the Go module proxy), kept across runs.
TOOLS := .tools/bin
HELM_VERSION := v3.22.0
HELM := $(TOOLS)/helm-$(HELM_VERSION)

.PHONY: install up test test-fast lint format bench schema asyncapi sync-pricing demo-data docs clean helm

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e 'sdk/python[test]' -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/costobs up $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

# The pure tier (tests/tiers.py): no nats-server, chDB, PostgreSQL or Chromium; under a minute.
# Two workers, each test file on one worker, so a file's lazy imports (openai, litellm…) load once.
# Measured on 2 cores (README "Tests"): 4 workers cost 2.5x the CPU; without xdist the SDK
# tests' waits on loopback servers are not overlapped and the wall time is 1.5x.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not service" -n 2 --dist loadfile $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

schema: $(STAMP)
	$(BIN)/python -m costobs_server.wire > sdk/wire-schema.v1.json

# The AsyncAPI document of every JetStream subject and payload (pinned by tests/test_asyncapi.py).
asyncapi: $(STAMP)
	$(BIN)/python -m costobs_server.asyncapi > docs/asyncapi.yaml

sync-pricing: $(STAMP)
	$(BIN)/python scripts/sync_pricing.py

demo-data: $(STAMP)
	$(BIN)/costobs demo-data $(ARGS)

# helm for the chart tests (tests/test_helm_chart.py): compiled once (a few minutes on 2
# cores), then reused while the version stays the same.
$(HELM):
	mkdir -p $(TOOLS)
	GOBIN=$(CURDIR)/$(TOOLS) GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS)/helm $(HELM)
	ln -sf helm-$(HELM_VERSION) $(TOOLS)/helm

helm: $(HELM)

clean:
	rm -rf $(VENV) .costobs .pytest_cache .mypy_cache .ruff_cache

docs: $(STAMP)
	$(BIN)/python -m costobs_server.config_docs

# Go SDK (sdk/go): the SDK module under -race; the provider-SDK module (real openai-go,
# anthropic-sdk-go, genai, bedrockruntime, the wire-schema check, `costobs up` end to end
# and the install proof) without -race, to keep the compile of those SDKs inside CI's budget.
GO ?= go
STATICCHECK := $(CURDIR)/$(TOOLS)/staticcheck-v0.8.2
GO_ENV := COSTOBS_BIN=$(CURDIR)/$(BIN)/costobs COSTOBS_PYTHON=$(CURDIR)/$(BIN)/python
.PHONY: go-test go-lint go-bench
test: go-test
lint: go-lint
bench: go-bench

go-test: $(STAMP)
	cd sdk/go && $(GO_ENV) $(GO) test -race -count=1 ./...
	cd sdk/go/providertest && $(GO_ENV) $(GO) test -count=1 ./...

$(STATICCHECK):
	mkdir -p $(TOOLS)
	GOBIN=$(CURDIR)/$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	mv $(TOOLS)/staticcheck $(STATICCHECK)

go-lint: $(STATICCHECK)
	cd sdk/go && $(GO) vet ./... && $(STATICCHECK) ./...
	cd sdk/go/providertest && $(GO) vet ./... && $(STATICCHECK) ./...
	@test -z "$$(gofmt -l sdk/go)" || { gofmt -l sdk/go; echo "gofmt: run gofmt -w sdk/go"; exit 1; }

go-bench:
	cd sdk/go && $(GO) test -run '^$$' -bench . -benchmem -benchtime 3000x .

# TypeScript SDK (sdk/typescript): node modules from the lockfile, reinstalled when it changes.
TS_SDK := sdk/typescript
TS_STAMP := $(TS_SDK)/node_modules/.installed
.PHONY: install-ts test-ts lint-ts bench-ts

$(TS_STAMP): $(TS_SDK)/package.json $(TS_SDK)/package-lock.json
	cd $(TS_SDK) && npm ci --no-audit --no-fund
	touch $(TS_STAMP)

install-ts: $(TS_STAMP)

test-ts: $(TS_STAMP) $(STAMP)
	cd $(TS_SDK) && npm test

lint-ts: $(TS_STAMP)
	cd $(TS_SDK) && npm run lint

bench-ts: $(TS_STAMP)
	cd $(TS_SDK) && npm run bench

test: test-ts
lint: lint-ts
bench: bench-ts
