#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs every tier: unit, integration (real Postgres, Redis, S3 server and
# Docker engine), end-to-end (HTTP API + worker, upload to leaderboard), browser (the web pages in headless Chromium) and fuzz (every route, arbitrary input, no
# 5xx). Ends with one "N passed, N failed" line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export ORT_DISABLE_TELEMETRY=1

ensure_node
ensure_node_modules
ensure_postgres
ensure_redis
ensure_chromium
ensure_reference_tools
ensure_docker_and_images

mkdir -p .assay/test
status=0
say "unit tier"
npx jest --selectProjects unit --json --outputFile=.assay/test/unit.json || status=1
say "integration and e2e tiers (real services, one file at a time)"
# --forceExit: a handle a test leaves open (a report render still in flight when its stack closed, say) must not hold
# the run for ever; Jest still names it ("Force exiting Jest"), and every result is already written.
npx jest --selectProjects integration e2e --runInBand --forceExit --json --outputFile=.assay/test/int.json || status=1
say "browser tier (the web interface in headless Chromium, real stack; screenshots in .assay/test/screenshots)"
npx jest --selectProjects browser --runInBand --forceExit --json --outputFile=.assay/test/browser.json || status=1
say "fuzz tier (every route x every caller, seeded; FUZZ_RUNS runs per pair, FUZZ_BUDGET_MS for the loop)"
npx jest --selectProjects fuzz --runInBand --forceExit --json --outputFile=.assay/test/fuzz.json || status=1
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  for (const f of [".assay/test/unit.json", ".assay/test/int.json", ".assay/test/browser.json", ".assay/test/fuzz.json"]) {
    if (!fs.existsSync(f)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  }
  console.log(`tests: ${passed} passed, ${failed} failed`);
'
exit $status
