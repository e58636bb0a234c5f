#!/bin/bash
# (16) Honest predictions, plus one special file in /output chosen by "probe.kind": fifo, socket, symlink, hardlink or
# device (mknod, which needs a capability the sandbox does not have).
kind=$(grep -o '"kind":"[^"]*"' /input/manifest.json | cut -d'"' -f4)
grep -o '"caseId":"[^"]*"' /input/manifest.json | while read -r c; do echo "{${c},\"probability\":0.5}"; done >/output/predictions.jsonl
case "$kind" in
  fifo) mkfifo /output/extra ;;
  socket) perl -MIO::Socket -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "/output/extra", Listen => 1) or die "socket: $!\n"' ;;
  symlink) ln -s /etc/passwd /output/extra ;;
  hardlink) ln /output/predictions.jsonl /output/extra ;;
  device) mknod /output/extra c 1 3 ;;
  *) echo "unknown kind '$kind'"; exit 4 ;;
esac
echo "planted $kind: status $?"
ls -la /output
exit 0
