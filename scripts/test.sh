#!/usr/bin/env bash
# Runs the whole suite on SQLite, then on PostgreSQL when TRIAD_TEST_POSTGRES_URL is set or
# PostgreSQL answers on 127.0.0.1:5432. Says clearly which ran. Under CI=true PostgreSQL is required.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

pg_url="${TRIAD_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}"
pg_up() {
  "$PY" - "$pg_url" <<'PYEOF'
import sys
import sqlalchemy as sa
try:
    e = sa.create_engine(sys.argv[1], connect_args={"connect_timeout": 3})
    with e.connect() as c:
        c.execute(sa.text("select 1"))
except Exception as exc:  # noqa: BLE001
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PYEOF
}

echo "=== Test suite on SQLite ==="
TRIAD_TEST_DB=sqlite "$PY" -m pytest "$@"
sqlite_rc=$?
ran="SQLite"

pg_rc=0
if pg_up; then
  echo "=== Test suite on PostgreSQL (${pg_url%%@*}@…) ==="
  TRIAD_TEST_DB=postgres TRIAD_TEST_POSTGRES_URL="$pg_url" "$PY" -m pytest "$@"
  pg_rc=$?
  ran="SQLite and PostgreSQL"
elif [ "${CI:-}" = "true" ] || [ -n "${TRIAD_TEST_POSTGRES_URL:-}" ]; then
  echo "=== PostgreSQL required here but not reachable: failing ==="
  pg_rc=1
else
  echo "=== PostgreSQL not reachable: suite ran on SQLite only ==="
fi

echo "=== Suite ran on: $ran (sqlite exit $sqlite_rc, postgres exit $pg_rc) ==="
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
