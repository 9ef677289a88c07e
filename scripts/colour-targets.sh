#!/usr/bin/env bash
# Camera colour against the network's own colour on the bigger set (outside CI): every
# photograph of CameraColourTests through every built-in camera (6 x 3 = 18 dark captures,
# three CFA layouts, ratios 100-300), restored at the true ratio with the official model and
# compared with the scene (PSNR, mean CIE76 ΔE, and the "oracle": the scene's chromaticity on
# the network's luminance). Needs ../shared; prints one line per capture and the means.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
NIGHTJAR_COLOUR_SET=full swift test -c release --filter CameraColourTests.testCameraColourOnDarkCapturesOfPhotographs 2>&1 \
    | grep -E "^colour|error|failed|passed"
