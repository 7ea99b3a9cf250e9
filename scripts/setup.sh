#!/usr/bin/env bash
# Installs what Wellspring needs on a fresh Debian/Ubuntu machine: the Debian packages the pipeline and
# its tests run (ffmpeg, redis-server, varnish as the CDN, nginx for reference benchmarks, chromium for the
# browser tests) and the npm dependencies.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_cmds=(ffmpeg:ffmpeg redis-server:redis-server nginx:nginx-light varnishd:varnish /usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf:fonts-dejavu-core)
if [ "${WELLSPRING_BROWSER:-1}" = "1" ]; then need_cmds+=(chromium:chromium); fi

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
  # npm ci is exact; some npm versions write lock files without other platforms' optional packages and then
  # refuse them in npm ci, so fall back to npm install (same lock, same versions) when that happens.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
fi
