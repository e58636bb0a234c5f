#!/bin/bash
# (1) Tries TCP to the host's services and a DNS lookup. Targets come from /input/manifest.json "probe.targets"
# ("host:port host:port ..."), so the test can name the ports it opened. Exit 3 = nothing reachable.
targets=$(grep -o '"targets":"[^"]*"' /input/manifest.json | cut -d'"' -f4)
connected=0
for t in $targets; do
  host=${t%:*} port=${t##*:}
  if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then echo "CONNECTED $t"; connected=1; else echo "blocked $t"; fi
done
for name in deb.debian.org localhost.localdomain registry.npmjs.org; do
  if timeout 3 getent hosts "$name" >/dev/null 2>&1; then echo "RESOLVED $name"; connected=1; else echo "no-dns $name"; fi
done
ip_addrs=$(cat /proc/net/if_inet6 /proc/net/fib_trie 2>/dev/null | wc -l)
echo "netinfo-lines $ip_addrs"
[ "$connected" -eq 1 ] && exit 0
exit 3
