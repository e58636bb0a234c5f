#!/bin/bash
# (9) Writes 64 MiB to stdout and stderr, then does its job honestly: the run must still end and be scored.
echo LOG-FLOOD-FIRST
head -c 33554432 /dev/zero | tr '\0' 'o'
head -c 33554432 /dev/zero | tr '\0' 'e' >&2
grep -o '"caseId":"[^"]*"' /input/manifest.json | while read -r c; do echo "{${c},\"probability\":0.5}"; done >/output/predictions.jsonl
echo
echo LOG-FLOOD-LAST
exit 0
