#!/bin/sh
# No-op MHA hook for the P2/P8 baselines ("plain MHA"). app.cnf passes --hook=NAME before MHA's argv.
# status and everything else: exit 0. shutdown_script --command=stopssh: exit 10, as ours does without
# a power manager ("SSH reachable. Shutting down mysqld done."), so MHA still saves and applies the dead
# master's binlog: both failovers then do the same MHA work.
hook="" cmd=""
for a in "$@"; do
  case $a in
    --hook=*) hook=${a#--hook=} ;;
    --command=*) cmd=${a#--command=} ;;
  esac
done
[ "$hook" = shutdown ] && [ "$cmd" = stopssh ] && exit 10
exit 0
