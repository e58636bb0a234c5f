#!/bin/bash
# (17) Honest predictions, then directories nested 30 deep with 200-character names: 6 KB of path, past PATH_MAX
# (4096), which made the worker's copy-out fail with ENAMETOOLONG and leave the tmpfs mounted. Perl, by relative
# chdir: bash aborts under runsc once its own $PWD passes PATH_MAX.
grep -o '"caseId":"[^"]*"' /input/manifest.json | while read -r c; do echo "{${c},\"probability\":0.5}"; done >/output/predictions.jsonl
perl -e 'my $n = "d" x 200; chdir "/output" or die; for (1..30) { mkdir $n or die "mkdir $_: $!\n"; chdir $n or die "chdir $_: $!\n" } open(my $f, ">", "leaf") or die "leaf: $!\n"; print $f "deep\n"; close $f' || exit 4
echo "deep tree planted"
exit 0
