#!/usr/bin/env bash
# Installs everything medalliond needs to build, test, run the quickstart and
# benchmarks on Debian 12: the C toolchain, the five libraries, cmocka,
# PostgreSQL 15 (server for the throwaway test clusters), PgBouncer (pooler
# tests), tzdata (the cron engine reads the zone files) and systemd-analyze.
set -euo pipefail

packages=(
    build-essential cmake pkg-config clang-format
    libpq-dev libuv1-dev libyaml-dev libcjson-dev libsystemd-dev libcmocka-dev
    postgresql postgresql-contrib postgresql-client
    pgbouncer tzdata systemd procps time python3-minimal
)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# policy-rc.d keeps package scripts from starting the distribution's own
# PostgreSQL/PgBouncer services: the tests start their own throwaway ones.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps: ${#packages[@]} packages present"
