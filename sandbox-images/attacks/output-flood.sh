#!/bin/bash
# (8) Writes 64 MiB of "predictions", far past the output cap, then claims success.
head -c 67108864 /dev/zero | tr '\0' 'x' >/output/predictions.jsonl
echo "write status $?"
exit 0
