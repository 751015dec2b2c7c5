#!/usr/bin/env bash
# Make sure the services the tests use are installed and running: PostgreSQL with PostGIS,
# and Mosquitto. Idempotent; prints one line per service.
set -euo pipefail

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: $1 needs root (run: sudo $0)" >&2
    exit 2
  fi
}

pg_version=""
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_version=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1}')
fi
if [ -z "$pg_version" ]; then
  echo "services: PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 2
fi

if [ ! -f "/usr/share/postgresql/${pg_version}/extension/postgis.control" ]; then
  need_root "installing PostGIS"
  echo "services: installing postgresql-${pg_version}-postgis-3"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "postgresql-${pg_version}-postgis-3" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q "postgresql-${pg_version}-postgis-3" >/dev/null
  }
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  need_root "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
echo "services: PostgreSQL ${pg_version} with PostGIS ready"

if command -v mosquitto >/dev/null 2>&1; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
    sleep 1
  fi
  echo "services: Mosquitto ready on 127.0.0.1:1883"
else
  echo "services: Mosquitto not installed (not needed by the current tests)"
fi
