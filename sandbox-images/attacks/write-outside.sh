#!/bin/bash
# (4) Tries to write everywhere but /output: the root filesystem, the read-only input, and to run code from the
# scratch tmpfs mounts (/tmp, /dev/shm: writable but noexec, sized, and counted against the memory limit).
wrote=0
for p in /pwned /etc/pwned /opt/attack/pwned /var/tmp/pwned /home/pwned /input/pwned /input/manifest.json /usr/local/bin/pwned; do
  if (echo x >"$p") 2>/dev/null; then echo "WROTE $p"; wrote=1; else echo "denied $p"; fi
done
for d in /tmp /dev/shm; do
  if cp /bin/true "$d/t" 2>/dev/null; then
    if "$d/t" 2>/dev/null; then echo "EXECUTED $d/t"; wrote=1; else echo "denied exec $d"; fi
  else echo "no scratch $d"; fi
done
[ "$wrote" -eq 1 ] && exit 0
exit 3
