#!/bin/bash
# (5) The classic fork bomb in the background, while the main shell waits with builtins only (no fork needed),
# so the outcome is deterministic: the pids limit stops the bomb, the wall clock stops the run.
echo "bomb starting"
( :(){ :|:& };: ) 2>/dev/null &
while [ "$SECONDS" -lt 3600 ]; do read -rt 1 <>/dev/null || true; done
