#!/usr/bin/env bash
# Installs Debian's `chromium` package so that the HTML report test (test/report/html-browser.test.ts)
# opens the report in a real headless browser.
#
# Idempotent: does nothing when `chromium` is already on PATH. Meant for root on Debian bookworm (CI
# and developer machines); elsewhere it says what to do instead of guessing. --no-install-recommends
# keeps the install to the browser and its libraries (no fonts beyond the dependencies, no extras).
set -euo pipefail

log() { printf 'install-chromium: %s\n' "$*" >&2; }

if command -v chromium >/dev/null 2>&1; then
  log "chromium already on PATH ($(command -v chromium)); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "apt-get not found: install Chromium by hand and put \`chromium\` on PATH"
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "must run as root (or with sudo available) to apt-get install chromium"
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
candidate="$(apt-cache policy chromium | awk '/Candidate:/ {print $2}')"
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  log "no installable 'chromium' package in this machine's apt sources (apt-cache policy chromium shows no candidate)"
  exit 1
fi
log "installing chromium $candidate"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
  log "chromium still not on PATH after install"
  exit 1
fi
log "installed: $(chromium --version 2>/dev/null | head -n1)"
