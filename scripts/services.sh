#!/usr/bin/env bash
# Starts the services Knooppunt's tests use when they are not already running:
# PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672), and installs xmllint (libxml2)
# for XSD validation in the mapping tests, and Chromium, chromedriver and axe-core (npm ci in
# tests/browser) for the operator console's browser tests. Idempotent; prints what it does.
set -euo pipefail

have_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v xmllint >/dev/null 2>&1; then
  echo "services: installing xmllint (libxml2-utils)"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
fi

# The operator console's browser tests: Debian's Chromium and chromedriver, axe-core from npm.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "services: installing chromium and chromium-driver"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
browser_dir="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
if [ ! -f "$browser_dir/node_modules/axe-core/axe.min.js" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "services: installing npm"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  echo "services: installing axe-core (npm ci in tests/browser)"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if ! have_port 5432; then
  echo "services: starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
fi

if ! have_port 5672; then
  echo "services: starting RabbitMQ"
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  as_root rabbitmq-server -detached
fi

for i in $(seq 1 60); do
  if have_port 5432 && have_port 5672; then
    # RabbitMQ accepts TCP before its app is up; wait until it answers.
    if command -v rabbitmqctl >/dev/null 2>&1; then
      if as_root rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1; then break; fi
    else
      break
    fi
  fi
  sleep 1
done
have_port 5432 || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
have_port 5672 || { echo "services: RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
echo "services: PostgreSQL and RabbitMQ are up"
