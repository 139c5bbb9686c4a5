# TaskRunner — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

DEV_INSTANCE := dev
DEV_DATABASE := taskrunner
URL := http://127.0.0.1:8080
dev_connection = $$(scripts/pg.sh connstr $(DEV_DATABASE) $(DEV_INSTANCE))
# A signing key and a key sealing webhook secrets, made once per checkout and kept under .data/, never committed.
DEV_JWT_KEY_FILE := .data/dev-jwt-signing-key
DEV_SEALING_KEY_FILE := .data/dev-webhook-secret-key
MIGRATOR := dotnet run --project migrations/TaskRunner.Migrations.csproj -c Release --

.PHONY: help run test stop db migrate seed seed-1m web build publish image-test k6-check bench-startup bench-ops bench-queries bench-tasks clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: seed web ## private database + migrations + demo data + the dashboard, then the service on http://127.0.0.1:8080 (Ctrl-C stops it)
	@printf '\n  Dashboard %s/\n  API      %s/api/v1\n  Docs     %s/api/docs\n  OpenAPI  %s/openapi/v1.json\n  Metrics  %s/metrics\n  Health   %s/health/ready\n  Demo     admin@taskrunner.local / taskrunner-demo\n\n' $(URL) $(URL) $(URL) $(URL) $(URL) $(URL)
	@mkdir -p .data && [[ -s $(DEV_JWT_KEY_FILE) ]] || head -c 32 /dev/urandom | base64 > $(DEV_JWT_KEY_FILE)
	@[[ -s $(DEV_SEALING_KEY_FILE) ]] || head -c 32 /dev/urandom | base64 > $(DEV_SEALING_KEY_FILE)
	@Database__ConnectionString="$(dev_connection)" Urls=$(URL) ASPNETCORE_ENVIRONMENT=Development \
		Auth__JwtSigningKeys__dev="$$(cat $(DEV_JWT_KEY_FILE))" Auth__JwtActiveKeyId=dev \
		Webhooks__SecretEncryptionKeys__dev="$$(cat $(DEV_SEALING_KEY_FILE))" Webhooks__SecretEncryptionKeyId=dev \
		dotnet run --project TaskRunner.csproj -c Release --no-launch-profile

test: ## the whole suite: in-process tests, AOT publish, black-box tests; ends with "N passed, N failed"
	@scripts/test.sh

stop: ## stop the private database (and Redis, if started)
	@scripts/pg.sh stop $(DEV_INSTANCE)
	@if [[ -x scripts/redis.sh ]]; then scripts/redis.sh stop $(DEV_INSTANCE); fi

db: ## start the private PostgreSQL and create the development database
	@scripts/pg.sh start $(DEV_INSTANCE)
	@scripts/pg.sh -i $(DEV_INSTANCE) psql -qtAc "SELECT 1 FROM pg_database WHERE datname = '$(DEV_DATABASE)'" | grep -q 1 \
		|| scripts/pg.sh -i $(DEV_INSTANCE) psql -qc "CREATE DATABASE $(DEV_DATABASE)"

migrate: db ## apply pending migrations to the development database
	@$(MIGRATOR) up --Database:ConnectionString="$(dev_connection)"

seed: migrate ## insert the demo data (idempotent)
	@$(MIGRATOR) seed-demo --Database:ConnectionString="$(dev_connection)"

seed-1m: ## a private PostgreSQL "seed1m" with database taskrunner_1m: migrated, 1,000,000 tasks (load/seed), ~2-3 min
	@scripts/pg.sh start seed1m
	@scripts/pg.sh -i seed1m psql -qc "DROP DATABASE IF EXISTS taskrunner_1m WITH (FORCE)" -c "CREATE DATABASE taskrunner_1m"
	@$(MIGRATOR) up --Database:ConnectionString="$$(scripts/pg.sh connstr taskrunner_1m seed1m)" >/dev/null
	@dotnet run --project load/seed -c Release -- --connection "$$(scripts/pg.sh connstr taskrunner_1m seed1m)"

web: ## build the dashboard (web/) into web/dist/; installs Node.js from the distribution if missing
	@scripts/web.sh

build: ## JIT build of everything (fast feedback)
	@dotnet build tests/TaskRunner.Tests.csproj -nodeReuse:false

publish: web ## the Native AOT binary in artifacts/aot/ (with the dashboard beside it in wwwroot/)
	@dotnet publish TaskRunner.csproj -c Release -r linux-x64 -o artifacts/aot -nodeReuse:false
	@rm -f artifacts/aot/*.dbg

image-test: ## build both container images with buildah and run them with podman (root; minutes, not part of make test)
	@deploy/image-test.sh

k6-check: ## type-check the k6 suite against @types/k6
	@cd load && npm ci --no-audit --no-fund && npm run check

bench-startup: publish migrate ## AOT start-to-ready, idle RSS and size
	@TASKRUNNER_DB="$(dev_connection)" load/startup-bench.sh

bench-tasks: ## write model: 1,000-task bulk create, single create and GET /tasks/{id} against the box's ceiling (after make publish)
	@load/tasks-bench.sh

bench-queries: ## list/search/suggest latency on the 1M data set (after make publish seed-1m)
	@load/query-bench.sh

bench-ops: ## wrk against the operational endpoints of a running service
	@BASE_URL=$(URL) load/ops-bench.sh

clean: ## remove build outputs (keeps the database)
	@rm -rf artifacts bin obj tests/bin tests/obj migrations/bin migrations/obj load/node_modules web/node_modules web/dist web/e2e/bin web/e2e/obj
