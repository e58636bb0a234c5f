#!/bin/bash
# (18) Logs that are bytes, not text: NUL, invalid UTF-8, an encoded lone surrogate, a terminal escape, a bidi override;
# then honest predictions, and exit 3 with a NUL in its last log line (which becomes the vendor's failure detail).
printf 'LOG-BYTES-FIRST\n'
printf 'nul:\x00:ff:\xff\xfe:surrogate:\xed\xa0\x80:esc:\x1b[2J:bidi:\xe2\x80\xae:end\n'
printf 'stderr:\x00\xc0\x80\n' >&2
grep -o '"caseId":"[^"]*"' /input/manifest.json | while read -r c; do echo "{${c},\"probability\":0.5}"; done >/output/predictions.jsonl
sleep 0.2
printf 'last line with a NUL\x00 byte\n'
exit 3
