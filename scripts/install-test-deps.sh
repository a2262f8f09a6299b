#!/usr/bin/env bash
# Installs the system packages atende's build and test suite need on Debian:
# cmake (opus builds libopus), sipp (Debian's sip-tester), baresip, sox (test audio),
# espeak-ng (prompt synthesis), PostgreSQL (the throwaway test cluster), openssl and curl
# (the HTTPS test makes a certificate and speaks TLS with them), and Debian's chromium +
# chromium-driver (the desktop's browser tests drive them headless; no browser is ever
# downloaded by the tests).
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip)
command -v sox >/dev/null || need+=(sox)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -e /usr/share/zoneinfo/America/Sao_Paulo ] || need+=(tzdata)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
