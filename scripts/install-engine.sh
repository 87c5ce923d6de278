#!/usr/bin/env bash
# Installs the real inference engine of the tests and demos (test/engine/): node-llama-cpp and its
# prebuilt CPU binary (@node-llama-cpp/linux-x64), pinned by test/engine/package-lock.json.
#
# Kept out of the main `npm ci` on purpose:
# - a plain install of node-llama-cpp pulls every GPU variant of its binary as optional dependencies
#   (CUDA, Vulkan: ~730 MB); `--omit=optional` with the CPU package as a direct dependency is ~85 MB;
# - but `--omit=optional` in the main tree would also drop the optional native bindings other packages
#   need (koffi, rolldown's), so the engine has its own folder and lockfile.
# `--ignore-scripts`: node-llama-cpp's postinstall looks for a binary and may try to download or build
# llama.cpp; the prebuilt package is all it needs, whichever npm version runs this.
# `npm install --no-save` rather than `npm ci`: node-llama-cpp 3.22.1 lists a binary package per platform
# as optional, and those for macOS, Windows and riscv64 could not be resolved when the lockfile was made
# (`npm view @node-llama-cpp/mac-x64@3.22.1` answered E404), so npm wrote no lock entry for them and
# `npm ci` refuses the lockfile as out of sync. `npm install --no-save` installs the locked versions and
# writes nothing; the check after it fails if any installed version differs from the lockfile.
#
# Idempotent: does nothing when the installed tree was made from the same lockfile.
set -euo pipefail
cd "$(dirname "$0")/../test/engine"

log() { printf 'install-engine: %s\n' "$*" >&2; }

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  log "the pinned binary package is @node-llama-cpp/linux-x64; on $(uname -s)-$(uname -m) edit test/engine/package.json for your platform's @node-llama-cpp package"
  exit 1
fi

stamp=node_modules/.inferwatt-lock-sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node ]; then
  log "test/engine/node_modules is up to date with its lockfile; nothing to do"
  exit 0
fi

start=$(date +%s)
npm install --omit=optional --ignore-scripts --no-save --no-audit --no-fund --loglevel=error
# Every installed package at its locked version (node_modules/.package-lock.json is npm's record of the tree).
node -e '
  const lock = require("./package-lock.json").packages;
  const tree = require("./node_modules/.package-lock.json").packages;
  const bad = Object.entries(tree).filter(([k, v]) => !lock[k] || lock[k].version !== v.version).map(([k, v]) => `${k}@${v.version} (lock: ${lock[k]?.version ?? "none"})`);
  if (bad.length) { console.error("install-engine: installed versions differ from package-lock.json: " + bad.join(", ")); process.exit(1); }
'
printf '%s\n' "$want" > "$stamp"
log "installed node-llama-cpp $(node -p "require('./node_modules/node-llama-cpp/package.json').version") ($(du -sh node_modules | cut -f1)) in $(( $(date +%s) - start )) s"
