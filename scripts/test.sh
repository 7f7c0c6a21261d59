#!/usr/bin/env bash
# Runs every test, every package under the race detector. Prints each
# package's result, every failure, and every skipped test with its reason:
# a test that cannot run here says why, it never passes silently.
#
# -race on all packages costs about 2.5x the plain run's CPU; the whole
# suite still takes under 10 minutes here (2 cores), since most of its time
# is spent waiting for real clusters, not computing.
set -uo pipefail
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -race -count=1 -timeout 20m -v "$@" > "$out" 2>&1
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
