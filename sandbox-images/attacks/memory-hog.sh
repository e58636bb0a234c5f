#!/bin/bash
# (6) Doubles one bash string until something stops it (2^31 bytes would be the 31st doubling). Few system calls:
# under runsc's ptrace platform a pipe-heavy allocator would take tens of seconds to reach the limit.
echo "allocating"
x=a
for _ in {1..31}; do x="$x$x"; done
echo "SURVIVED ${#x}"
