#!/usr/bin/env bash
# Checks the systemd unit offline: `systemd-analyze security` rates its exposure at most 2.0 (--threshold counts tenths),
# and `systemd-analyze verify` finds nothing (with ExecStart= pointed at the built binary, since
# verify checks that the executable exists). Deterministic; a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null; then
    echo "SKIPPED: systemd-analyze is missing (scripts/install-deps.sh installs systemd)"
    exit 0
fi
binary="${1:-$(swift build --show-bin-path)/nightjar}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
systemd-analyze security --offline=true --threshold=20 systemd/nightjar.service | tail -1
sed "s|/usr/bin/nightjar|$binary|" systemd/nightjar.service > "$work/nightjar.service"
# verify prints problems and exits 0 for some of them: any output is a failure.
output="$(systemd-analyze verify "$work/nightjar.service" 2>&1)" || { echo "$output"; exit 1; }
if [ -n "$output" ]; then echo "$output"; exit 1; fi
echo "systemd-analyze verify: clean"
