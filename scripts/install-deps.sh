#!/usr/bin/env bash
# Installs the system packages Nightjar builds and tests with (Debian/Ubuntu), if missing.
set -euo pipefail
# time: GNU time, which the footprint test measures a restore's peak memory with.
# systemd: systemd-analyze, which scripts/check-systemd.sh checks systemd/nightjar.service with.
# libraw-bin: LibRaw's own dcraw_emu and raw-identify, which the evaluate reference render and
# CameraColourTests' colour values are checked against.
# plasma-workspace-wallpapers, libjpeg-turbo-progs: the photographs (and djpeg to decode them)
# that CameraColourTests synthesize dark captures from.
# python3-pil: PIL, the second, independent PNG reader PNGEncoderTests opens the encoder's files
# with (without it that test skipped in CI).
packages=(libraw-dev libpng-dev pkg-config qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross time systemd
          libraw-bin plasma-workspace-wallpapers libjpeg-turbo-progs python3-pil)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
