#!/bin/bash
# (15) Honest predictions, then the predictions file stretched to 3 GiB and a 1 TiB file, both holes: tmpfs allocates
# no block for a hole, so its size= cap never sees them; the copy-out must count apparent sizes.
grep -o '"caseId":"[^"]*"' /input/manifest.json | while read -r c; do echo "{${c},\"probability\":0.5}"; done >/output/predictions.jsonl
truncate -s 3G /output/predictions.jsonl && echo "sparse predictions 3G"
truncate -s 1T /output/padding && echo "sparse padding 1T"
ls -ls /output
exit 0
