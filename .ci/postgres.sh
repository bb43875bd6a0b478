# A throwaway PostgreSQL cluster for the tests of the PostgreSQL backend.
#
# Source it (`source .ci/postgres.sh`): it finds or installs PostgreSQL's server binaries,
# initialises a cluster in a fresh temporary directory (trust authentication, listening on
# 127.0.0.1 only, on a free port), starts it, exports CREDLEDGER_TEST_POSTGRES (a libpq URL of
# its `postgres` database) and stops and removes it when the sourcing shell exits.

ci_pg_bin_dir() {
  local initdb
  for initdb in /usr/local/bin/initdb /usr/lib/postgresql/*/bin/initdb; do
    if [ -x "$initdb" ] && [ -x "$(dirname "$initdb")/pg_ctl" ]; then
      dirname "$initdb"
      return 0
    fi
  done
  return 1
}

ci_pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || shuf -i 20000-60000 -n 1
}

if ! CI_PG_BIN="$(ci_pg_bin_dir)"; then
  echo "== installing PostgreSQL (no initdb found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  CI_PG_BIN="$(ci_pg_bin_dir)" || { echo "PostgreSQL's initdb is still missing after apt-get install" >&2; return 1; }
fi

CI_PG_DIR="$(mktemp -d /tmp/credledger-pg.XXXXXX)"
CI_PG_PORT="$(ci_pg_free_port)"
# initdb and postgres refuse to run as root: run them as an unprivileged user owning the dir.
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then CI_PG_USER=postgres; else CI_PG_USER=nobody; fi
  chown "$CI_PG_USER" "$CI_PG_DIR"
  ci_pg_run() { runuser -u "$CI_PG_USER" -- "$@"; }
else
  ci_pg_run() { "$@"; }
fi
chmod 700 "$CI_PG_DIR"

ci_pg_stop() {
  ci_pg_run "$CI_PG_BIN/pg_ctl" -D "$CI_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$CI_PG_DIR"
}
trap ci_pg_stop EXIT

echo "== starting a throwaway PostgreSQL ($("$CI_PG_BIN/postgres" --version)) on 127.0.0.1:$CI_PG_PORT"
ci_pg_run "$CI_PG_BIN/initdb" -D "$CI_PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$CI_PG_DIR/initdb.log" 2>&1 \
  || { cat "$CI_PG_DIR/initdb.log" >&2; return 1; }
ci_pg_run "$CI_PG_BIN/pg_ctl" -D "$CI_PG_DIR/data" -l "$CI_PG_DIR/server.log" -w -t 60 \
  -o "-p $CI_PG_PORT -k $CI_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null \
  || { cat "$CI_PG_DIR/server.log" >&2; return 1; }

export CREDLEDGER_TEST_POSTGRES="postgres://postgres@127.0.0.1:$CI_PG_PORT/postgres"
