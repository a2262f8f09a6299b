#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (sipp, baresip,
# sox, PostgreSQL, cmake, chromium + chromium-driver), then runs every unit and
# end-to-end test. PostgreSQL tests use $ATENDE_TEST_PG_URL when given; otherwise the
# tests start a throwaway cluster on a free loopback port and remove it when they finish.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
cargo test --all-targets --locked "$@"
