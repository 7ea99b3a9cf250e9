#!/usr/bin/env bash
# Installs what Wellspring needs on a fresh Debian/Ubuntu machine: the Debian packages the pipeline and
# its tests run (ffmpeg, redis-server, varnish as the CDN, nginx for reference benchmarks, chromium for the
# browser tests, GStreamer as a DASH client) and the npm dependencies.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_cmds=(ffmpeg:ffmpeg redis-server:redis-server nginx:nginx-light varnishd:varnish /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf:fonts-dejavu-core)
if [ "${WELLSPRING_BROWSER:-1}" = "1" ]; then need_cmds+=(chromium:chromium); fi
# GStreamer (playbin3 + dashdemux2), a non-browser DASH client in the end-to-end tests.
gst_lib=/usr/lib/$(uname -m)-linux-gnu/gstreamer-1.0
need_cmds+=(gst-launch-1.0:gstreamer1.0-tools "$gst_lib/libgstplayback.so:gstreamer1.0-plugins-base"
  "$gst_lib/libgstadaptivedemux2.so:gstreamer1.0-plugins-good" "$gst_lib/libgstdash.so:gstreamer1.0-plugins-bad"
  "$gst_lib/libgstlibav.so:gstreamer1.0-libav")
# xmllint validates our MPDs against the DASH schema in the interoperability suite.
need_cmds+=(xmllint:libxml2-utils)
# ss and nstat (the reader's listen backlog in a test; the load benchmarks' accept queue and TCP counters).
need_cmds+=(ss:iproute2 nstat:iproute2)

missing=()
for pair in "${need_cmds[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if [[ $cmd == /* ]]; then [ -e "$cmd" ] || missing+=("$pkg"); continue; fi
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then missing+=("$pkg"); fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies: install when node_modules is missing or older than the lockfile.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  # npm ci only: exactly the committed lock, never rewritten (npm install would, and leave the work tree dirty).
  # The lock carries every platform's optional packages, so npm ci accepts it; if it fails, say so and stop.
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "setup: npm ci failed; package-lock.json must match package.json (fix the lock, do not npm install here)" >&2
    exit 1
  fi
fi
