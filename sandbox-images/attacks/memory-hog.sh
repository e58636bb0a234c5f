#!/bin/bash
# (6) Grows one bash variable without bound (about 1 GiB of 'a'), far past the sandbox's memory.
echo "allocating"
x=$(head -c 1073741824 /dev/zero | tr '\0' a)
echo "SURVIVED ${#x}"
