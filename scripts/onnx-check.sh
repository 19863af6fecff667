#!/usr/bin/env bash
# Dev-only cross-check: export a synthetic BERT at several opsets and variants, then run the
# official ONNX checker (full_check + strict shape inference) over each file.
# Needs Debian's python3-onnx (apt-get install python3-onnx); it knows opsets up to 17.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx tsx scripts/export-check-models.ts "$out" >/dev/null
/usr/bin/python3 scripts/onnx-check.py "$out"/*.onnx
