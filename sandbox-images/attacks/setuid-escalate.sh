#!/bin/bash
# (11) Runs a setuid-root copy of bash (shipped in the image) and reports the effective uid it got.
echo "before $(id -u)"
/usr/local/bin/rootsh -p -c 'echo "euid $(id -u) ruid $(id -ru)"; grep CapEff /proc/self/status; echo x > /etc/escalated && echo WROTE-ETC'
if /usr/local/bin/rootsh -p -c '[ "$(id -u)" = 0 ]'; then echo "ESCALATED"; exit 0; fi
echo "stayed non-root"
exit 3
