#!/usr/bin/env bash
# Runs every test of the workspace against real PostgreSQL and RabbitMQ (started when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
exec cargo test --workspace --locked "$@"
