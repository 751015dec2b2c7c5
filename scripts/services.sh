#!/usr/bin/env bash
# Make sure the services the tests use are available: PostgreSQL with PostGIS (running), and
# the Mosquitto binary (the tests start their own brokers). Idempotent; one line per service.
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

# Mosquitto: the MQTT tests (and `make run`) start private brokers from the binary on free
# ports, so only the binary is needed, not a running system broker.
find_mosquitto() {
  command -v mosquitto 2>/dev/null || for candidate in /usr/sbin/mosquitto /usr/local/sbin/mosquitto; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
}
mosquitto_bin=$(find_mosquitto || true)
if [ -z "$mosquitto_bin" ]; then
  need_root "installing Mosquitto"
  echo "services: installing mosquitto"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q mosquitto >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q mosquitto >/dev/null
  }
  mosquitto_bin=$(find_mosquitto)
fi
echo "services: Mosquitto ready ($mosquitto_bin; the tests start private brokers from it)"
