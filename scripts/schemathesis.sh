#!/usr/bin/env bash
# Attacks the open API with schemathesis (property-based tests generated from /openapi.json).
#
#   scripts/schemathesis.sh [extra schemathesis args…]
#
# Builds `knooppunt`, starts a sandbox (`knooppunt serve`, in memory) on a free port with TLS off
# (plain HTTP, tokens only), takes the first sample institution's credentials from the start
# banner, fetches a bearer token and runs `schemathesis run` against it with these checks:
# not_a_server_error, status_code_conformance, content_type_conformance,
# response_headers_conformance, response_schema_conformance (answers match the document),
# missing_required_header, ignored_auth (a request without Idempotency-Key or token is refused)
# and unsupported_method (405 for a method the path does not have). Stops the server at the end
# (also on failure or Ctrl-C). Exit status: schemathesis's (0 = no failures).
#
# Every POST carries an Idempotency-Key: a hook (SCHEMATHESIS_HOOKS, written to the work dir)
# replaces each *valid* generated key by a fresh UUID, so a positive case is never answered as a
# replay of an earlier case; invalid keys (negative cases) are sent as generated. The same hook
# sends the client's credentials (HTTP Basic) to the token endpoint, and turns half of the
# submissions into valid ones (fresh id, random 11-proef BSN) so the later cases meet real
# aanmeldingen.
#
# Environment:
#   ST_MAX_TIME     time budget in seconds (default 180)
#   ST_MAX_EXAMPLES cases per operation and phase (default 100)
#   ST_SEED         hypothesis seed (default: random; printed by schemathesis)
#   ST_WORKERS      concurrent workers (default 2)
#   ST_CHECKS       comma-separated checks instead of the list above (e.g. `all`)
#   ST_REPORT_DIR   where the JUnit/ndjson reports go (default: the work dir, printed)
#   CARGO_TARGET_DIR as for cargo (default: target/)
# Needs: cargo, curl, python3 with schemathesis (`pip install schemathesis`, tested with 4.32).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/debug/knooppunt
MAX_TIME=${ST_MAX_TIME:-180}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
WORKERS=${ST_WORKERS:-2}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,missing_required_header,ignored_auth,unsupported_method

command -v schemathesis >/dev/null 2>&1 || {
  echo "schemathesis: not installed (pip install schemathesis)" >&2
  exit 2
}

echo "schemathesis.sh: building knooppunt"
(cd "$ROOT" && cargo build -q -p knooppunt-gateway)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/knooppunt-schemathesis.XXXXXX")
REPORT_DIR=${ST_REPORT_DIR:-$WORK/report}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

echo "schemathesis.sh: starting the sandbox on $BASE (work dir $WORK)"
KNOOPPUNT_API__LISTEN=127.0.0.1:$PORT \
  KNOOPPUNT_API__TLS__MODE=off \
  KNOOPPUNT_API__TOKEN_TTL_SECONDS=3600 \
  KNOOPPUNT_SANDBOX_DIR=$WORK/sandbox \
  RUST_LOG=${RUST_LOG:-warn} \
  "$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 300); do
  if grep -q "Sample students\|client_secret" "$WORK/serve.log" 2>/dev/null &&
    curl -fsS "$BASE/healthz" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis.sh: the server stopped; its log:" >&2
    cat "$WORK/serve.log" >&2
    exit 2
  fi
  sleep 0.2
done
sleep 0.5 # the banner is printed in one go; let it finish

CLIENT_ID=$(awk '$1 == "client_id" {print $2; exit}' "$WORK/serve.log")
CLIENT_SECRET=$(awk '$1 == "client_secret" {print $2; exit}' "$WORK/serve.log")
if [ -z "$CLIENT_ID" ] || [ -z "$CLIENT_SECRET" ]; then
  echo "schemathesis.sh: no credentials in the start banner:" >&2
  cat "$WORK/serve.log" >&2
  exit 2
fi
TOKEN=$(curl -fsS -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials \
  "$BASE/api/v1/oauth2/token" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
echo "schemathesis.sh: token for client $CLIENT_ID"

cat >"$WORK/hooks.py" <<'EOF'
import base64
import os
import random
import uuid

import schemathesis

_BASIC = "Basic " + base64.b64encode(
    f"{os.environ['KP_CLIENT_ID']}:{os.environ['KP_CLIENT_SECRET']}".encode()
).decode()


def _random_bsn():
    """A random 9-digit number passing the 11-proef (test data, nobody's BSN on purpose)."""
    while True:
        digits = [random.randint(0, 9) for _ in range(8)]
        last = sum(d * w for d, w in zip(digits, range(9, 1, -1))) % 11
        if last < 10 and digits[0] != 0:
            return "".join(map(str, digits)) + str(last)


def _valid_key(value):
    return isinstance(value, str) and 1 <= len(value) <= 255 and all(33 <= ord(c) <= 126 for c in value)


@schemathesis.hook
def before_call(context, case, **kwargs):
    """A fresh Idempotency-Key for every POST whose generated key is valid."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and _valid_key(headers[name]):
            headers[name] = str(uuid.uuid4())
    body = case.body
    if (
        case.method.upper() == "POST"
        and case.path == "/api/v1/aanmeldingen"
        and isinstance(body, dict)
        and isinstance(body.get("student"), dict)
        and "bsn" in body["student"]
        and random.random() < 0.5
    ):
        # Half of the positive-looking submissions become valid ones (a fresh id, a random
        # 11-proef BSN, 25LX's Software Developer), so later cases and the stateful phase
        # reach existing aanmeldingen (GET /{id}, status changes) and not only 404/422.
        case.body = {
            "aanmelding_id": str(uuid.uuid4()),
            "student": {"bsn": _random_bsn()},
            "opleiding": "6f1e0a52-8c1b-4c4e-9a57-000000000001",
            "cohort": "2027-2028",
        }
    if case.path == "/api/v1/oauth2/token":
        # The token endpoint takes the client's credentials (HTTP Basic), not the bearer token.
        for name in list(headers):
            if name.lower() == "authorization":
                del headers[name]
        headers["Authorization"] = _BASIC
    case.headers = headers
EOF

# The bearer token goes by the OpenAPI security scheme (not a global -H), so schemathesis knows
# which operations need it and can check that they refuse a request without it.
cat >"$WORK/schemathesis.toml" <<'EOF'
[auth.openapi.bearer]
bearer = "${KP_TOKEN}"
EOF

mkdir -p "$REPORT_DIR"
cd "$WORK" # schemathesis keeps a cache (.schemathesis/) in the current directory
set +e
KP_CLIENT_ID=$CLIENT_ID KP_CLIENT_SECRET=$CLIENT_SECRET KP_TOKEN=$TOKEN SCHEMATHESIS_HOOKS=$WORK/hooks.py \
  schemathesis --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
  --url "$BASE" \
  --checks "${ST_CHECKS:-$CHECKS}" \
  --max-time "$MAX_TIME" \
  --max-examples "$MAX_EXAMPLES" \
  --workers "$WORKERS" \
  --request-timeout 40 \
  --report junit,ndjson --report-dir "$REPORT_DIR" \
  ${ST_SEED:+--seed "$ST_SEED"} \
  "$@"
STATUS=$?
set -e

if grep -q "panicked" "$WORK/serve.log"; then
  echo "schemathesis.sh: the server log shows a panic (see $WORK/serve.log)" >&2
  STATUS=${STATUS/#0/1}
fi
echo "schemathesis.sh: reports in $REPORT_DIR, server log $WORK/serve.log; exit $STATUS"
exit "$STATUS"
