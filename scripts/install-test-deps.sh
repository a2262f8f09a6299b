#!/usr/bin/env bash
# Installs the system packages atende's build and test suite need on Debian:
# cmake (opus builds libopus), sipp (Debian's sip-tester), baresip, sox (test audio),
# espeak-ng (prompt synthesis), PostgreSQL (the throwaway test cluster), openssl and curl
# (the HTTPS test makes a certificate and speaks TLS with them), and Debian's chromium +
# chromium-driver (the desktop's browser tests drive them headless; no browser is ever
# downloaded by the tests). The report exports are checked by independent readers
# (LibreOffice headless, Python openpyxl and odfpy) and the report e-mail by a local SMTP
# server (Python aiosmtpd), all from Debian's python3 (/usr/bin/python3).
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
command -v soffice >/dev/null || need+=(libreoffice-calc-nogui)
/usr/bin/python3 -c 'import openpyxl' 2>/dev/null || need+=(python3-openpyxl)
/usr/bin/python3 -c 'import odf' 2>/dev/null || need+=(python3-odf)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
