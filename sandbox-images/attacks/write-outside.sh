#!/bin/bash
# (4) Tries to write everywhere but /output: the root filesystem, the read-only input, and to run code from /tmp.
wrote=0
for p in /pwned /etc/pwned /opt/attack/pwned /var/tmp/pwned /home/pwned /input/pwned /input/manifest.json /dev/shm/pwned; do
  if (echo x >"$p") 2>/dev/null; then echo "WROTE $p"; wrote=1; else echo "denied $p"; fi
done
cp /bin/true /tmp/t 2>/dev/null && { if /tmp/t 2>/dev/null; then echo "EXECUTED /tmp/t"; wrote=1; else echo "denied exec /tmp"; fi; }
[ "$wrote" -eq 1 ] && exit 0
exit 3
