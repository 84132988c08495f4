#!/usr/bin/env bash
# Make sure the production-path services the tests talk to are up on loopback:
# PostgreSQL on 127.0.0.1:5432 and Mosquitto on 127.0.0.1:1883. Tests that need isolation start
# their own instances on free ports; these are the machine's shared ones.
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if ! up 1883; then
  echo "services: starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf 2>/dev/null || /usr/sbin/mosquitto -d -p 1883 || true
fi
up 5432 && echo "services: PostgreSQL on 127.0.0.1:5432" || echo "services: no PostgreSQL on 5432 (tests will start their own)"
up 1883 && echo "services: Mosquitto on 127.0.0.1:1883" || echo "services: no Mosquitto on 1883 (tests will start their own)"
exit 0
