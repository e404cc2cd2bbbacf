#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at a fresh database on the local PostgreSQL server,
# dropped afterwards. PGHOST/PGPORT/PGUSER override the defaults (127.0.0.1:5432, postgres).
set -euo pipefail
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
user=${PGUSER:-postgres}
if ! pg_isready -q -h "$host" -p "$port"; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
  fi
fi
pg_isready -h "$host" -p "$port" || { echo "PostgreSQL is not reachable at $host:$port" >&2; exit 1; }
db="dualchannel_$(date +%s)_$$"
psql -q -h "$host" -p "$port" -U "$user" -d postgres -c "CREATE DATABASE $db"
cleanup() {
  psql -q -h "$host" -p "$port" -U "$user" -d postgres \
    -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname LIKE '%$db%' AND pid <> pg_backend_pid()" >/dev/null || true
  for name in $(psql -tA -h "$host" -p "$port" -U "$user" -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '%$db%'"); do
    psql -q -h "$host" -p "$port" -U "$user" -d postgres -c "DROP DATABASE IF EXISTS \"$name\"" || true
  done
}
trap cleanup EXIT
export DATABASE_URL="postgres://$user@$host:$port/$db"
"$@"
