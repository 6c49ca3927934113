# Entry points for people and CI. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TS_SOURCES := $(shell find plugin proto test/pachd test/conformance/backend -type f \( -name '*.ts' -o -name '*.proto' \) 2>/dev/null)

.PHONY: help plugin build test test-unit test-conformance bench typecheck clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 28

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build/pachyderm: node_modules/.package-lock.json $(TS_SOURCES)
	node scripts/build.mjs plugin

build/conformance-backend: node_modules/.package-lock.json $(TS_SOURCES)
	node scripts/build.mjs conformance-backend

build/pachd-standin.js: node_modules/.package-lock.json $(TS_SOURCES)
	node scripts/build.mjs pachd-standin

plugin: build/pachyderm ## build the plugin executable build/pachyderm

build: build/pachyderm build/conformance-backend build/pachd-standin.js ## build every bundle

typecheck: node_modules/.package-lock.json ## TypeScript strict type check
	npx tsc --noEmit -p tsconfig.json

test: build ## run every suite (typecheck, unit, conformance); ends with "N passed, N failed"
	bash scripts/run-tests.sh

clean: ## remove build outputs
	rm -rf build
