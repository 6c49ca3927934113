# Entry points for people and CI. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# What each bundle is built from: its own sources, and the build's own inputs (the bundler
# script, the proto compiler it loads, the compiler settings, the pinned packages). The product
# does not rebuild when only the test doubles change.
sources = $(shell find $(1) -type f \( -name '*.ts' -o -name '*.proto' \) 2>/dev/null)
BUILD_INPUTS := node_modules/.package-lock.json package.json tsconfig.json scripts/build.mjs scripts/proto-compile.cjs
PLUGIN_SOURCES := $(call sources,plugin proto)
STANDIN_SOURCES := $(call sources,test/pachd plugin/grpc proto/pachyderm)
BACKEND_SOURCES := $(call sources,test/conformance/backend plugin proto)

.PHONY: help plugin plugin-script build test test-unit test-conformance acceptance acceptance-slow bench typecheck lint fmt register dev clean

# HashiCorp's KV plugin: a conformance target that proves the harness right, and the benchmark's
# baseline. Pinned so the baseline does not move under us.
KV_PLUGIN_VERSION := v0.25.0
KV_PLUGIN := build/bench-bin/vault-plugin-secrets-kv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 28

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# One build writes both architectures' executables (and SHA256SUMS); package.json pins the
# embedded Node runtime (seaRuntime), so a new pin rebuilds them.
build/pachyderm build/linux_arm64/pachyderm &: $(BUILD_INPUTS) scripts/node-runtime.mjs $(PLUGIN_SOURCES)
	node scripts/build.mjs plugin

build/node/pachyderm: $(BUILD_INPUTS) $(PLUGIN_SOURCES)
	node scripts/build.mjs plugin-script

build/conformance-backend: $(BUILD_INPUTS) $(BACKEND_SOURCES)
	node scripts/build.mjs conformance-backend

build/pachd-standin.js: $(BUILD_INPUTS) $(STANDIN_SOURCES)
	node scripts/build.mjs pachd-standin

plugin: build/pachyderm build/linux_arm64/pachyderm ## build the single executables with Node inside (linux/amd64: build/pachyderm, linux/arm64: build/linux_arm64/pachyderm) and build/SHA256SUMS

plugin-script: build/node/pachyderm ## build build/node/pachyderm, the plugin as a Node script (hosts with Node)

build: build/pachyderm build/linux_arm64/pachyderm build/node/pachyderm build/conformance-backend build/pachd-standin.js ## build everything

register: build/pachyderm ## install, register and mount the plugin (PLUGIN_DIR, VAULT_ADDR, VAULT_TOKEN)
	scripts/register

dev: build/pachyderm build/pachd-standin.js ## dev server (vault or bao) + plugin + pachd stand-in (PACHD_GENERATION=1|2)
	node scripts/dev.mjs

$(KV_PLUGIN):
	GOBIN=$(CURDIR)/build/bench-bin go install github.com/hashicorp/vault-plugin-secrets-kv/cmd/vault-plugin-secrets-kv@$(KV_PLUGIN_VERSION)

typecheck: node_modules/.package-lock.json ## TypeScript strict type check
	npx tsc --noEmit -p tsconfig.json

lint: node_modules/.package-lock.json ## ESLint (eslint.config.mjs) and Prettier's check; make test fails on either
	npx eslint .
	npx prettier --check "**/*.{ts,mjs,cjs}"

fmt: node_modules/.package-lock.json ## format with Prettier, then apply ESLint's fixes
	npx prettier --write "**/*.{ts,mjs,cjs}"
	npx eslint --fix .

test: build $(KV_PLUGIN) ## run every suite (typecheck, lint, unit, conformance, acceptance); ends with "N passed, N failed"
	bash scripts/run-tests.sh

test-unit: node_modules/.package-lock.json ## jest unit tests only
	npx jest

test-conformance: build $(KV_PLUGIN) ## Go conformance suite only (Vault's plugin client drives our executables)
	cd test/conformance && PLUGIN_BUILD_DIR=$(CURDIR)/build go test ./... -count=1

acceptance: build ## acceptance suite against a real server: BAO_BIN or VAULT_BIN, else OpenBao 2.6.2 from ../shared/servers
	bash scripts/run-acceptance.sh

acceptance-slow: build ## slow acceptance tests on a real server (scheduled admin rotation every minute, restart, kill -9; ~8 min)
	server=$$(scripts/acceptance-server.sh) && cd test/conformance && BAO_BIN="$$server" PACHYDERM_ACC=1 PACHYDERM_ACC_SLOW=1 \
		PLUGIN_BUILD_DIR=$(CURDIR)/build go test ./acceptance/ -run 'TestAcceptanceScheduledRotation' -count=1 -v -timeout 30m

build/bench-variants/.built: $(BUILD_INPUTS) scripts/node-runtime.mjs $(PLUGIN_SOURCES)
	node scripts/build.mjs bench-variants
	@touch $@

bench: build $(KV_PLUGIN) build/bench-variants/.built ## benchmarks: ours against HashiCorp's Go KV plugin, then V8 option variants (BENCH_FLAGS=... to shorten, -variants= to skip them)
	cd test/conformance && PLUGIN_BUILD_DIR=$(CURDIR)/build go run ./cmd/bench -variants $(CURDIR)/build/bench-variants $(BENCH_FLAGS)

clean: ## remove build outputs
	rm -rf build
