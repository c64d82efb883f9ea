#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs missing Debian packages, builds, tests.
# Tests start whatever servers they need themselves, on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
swift build --build-tests
# grpc-swift-2 does not cancel server handlers by itself; a hang must fail, not stall CI.
timeout --kill-after=30 1800 swift test --skip-build "$@"
