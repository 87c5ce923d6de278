#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (Node 20, root) and runs them.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
if [ -f scripts/install-prometheus.sh ]; then bash scripts/install-prometheus.sh; fi
# Chromium (Debian's) for the HTML report test, which opens the report in a real headless browser.
if [ -f scripts/install-chromium.sh ]; then bash scripts/install-chromium.sh; fi
# The real inference engine of test/engine/ (node-llama-cpp, CPU binary): its own folder and lockfile.
bash scripts/install-engine.sh
npm run build
npm run typecheck
# typescript-eslint's type-checked rules (eslint.config.mjs) and unused files, exports and dependencies (knip.json).
npm run lint
npm run knip
mkdir -p .tmp
# The main suite, then the tests that measure energy through the host's CPU load, alone (test/quiet/).
# Both always run; the script fails if either did.
rc=0
npx vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest-report.json || rc=$?
npx vitest run --config vitest.quiet.config.ts --reporter=default --reporter=json --outputFile=.tmp/vitest-quiet-report.json || rc=$?
exit $rc
