#!/bin/bash
# The "shell script of 200 short commands" workload of bench/run.sh: 50
# rounds of 4 external programs (Debian's dynamically linked coreutils), as a
# build or init script runs them. Exits non-zero if any gives a wrong answer.
set -eu
tmp=/tmp/commands.$$
for ((i = 0; i < 50; i++)); do
    d=$(/usr/bin/dirname "/a/b/c$i")
    [ "$d" = /a/b ]
    /usr/bin/cat /etc/passwd >"$tmp"
    lines=$(/usr/bin/wc -l <"$tmp")
    [ "$lines" -ge 1 ]
    /usr/bin/rm "$tmp"
done
