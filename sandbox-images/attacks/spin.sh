#!/bin/bash
# (7) Burns CPU forever with a builtin loop.
echo "spinning"
while :; do :; done
