#!/usr/bin/env bash
# Runs every test. Prints each package's result, every failure, and every
# skipped test with its reason: a test that cannot run here says why, it
# never passes silently.
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -count=1 -timeout 20m -v "$@" > "$out" 2>&1
rc=$?
awk '
  /^=== (RUN|CONT|PAUSE|NAME)/ { next }
  /^(FAIL|panic:)/ { printf "%s", buf; print; buf=""; next }
  /^(ok|PASS$)/ { print; buf=""; next }
  /^ *--- (SKIP|FAIL)/ { print; printf "%s", buf; buf=""; next }
  /^ *--- PASS/ { buf=""; next }
  { buf = buf $0 "\n" }
  END { printf "%s", buf }
' "$out" | grep -v '^redis: '
exit $rc
