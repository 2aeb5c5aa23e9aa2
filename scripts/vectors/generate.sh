#!/usr/bin/env bash
# Regenerate drip's reference vectors with xrpl.js and the Interledger packet
# libraries (btp-packet, ilp-packet, ilp-protocol-ildcp) from npm. The library goes
# into a throwaway folder under target/; the test run needs only the JSON this
# writes, which is committed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/target/vectors-node"
mkdir -p "$work"
cp "$here/package.json" "$work/package.json"
(cd "$work" && npm install --no-audit --no-fund --silent)
XRPL_NODE_MODULES="$work/node_modules" node "$here/generate.mjs" "$root/drip_core/tests/fixtures/xrpljs.json"
NODE_MODULES="$work/node_modules" node "$here/generate-ilp.mjs" "$root/drip_ilp/tests/fixtures/js.json"
