#!/usr/bin/env bash
# Stop the cluster scripts/slurm/start.sh stood up under DIR: cancel its jobs, then end exactly the
# daemons whose PIDs it kept in DIR/pids (each checked to still be that daemon), newest first.
#
#   scripts/slurm/stop.sh DIR [--purge]    # --purge also removes DIR
set -uo pipefail

DIR=${1:?usage: stop.sh DIR [--purge]}
[ -d "$DIR" ] || exit 0
DIR=$(cd "$DIR" && pwd)
export SLURM_CONF=$DIR/etc/slurm.conf

# jobs first, so that no slurmstepd outlives slurmd
if [ -s "$DIR/pids" ] && [ -f "$SLURM_CONF" ] && timeout 10 scontrol ping 2>/dev/null | grep -q UP; then
  timeout 10 scancel --full --signal=KILL --state=RUNNING -u "$(id -un)" 2>/dev/null
  timeout 10 scancel -u "$(id -un)" 2>/dev/null
  for _ in $(seq 50); do
    [ -z "$(timeout 10 squeue -h -t PD,R,CG,CF,S 2>/dev/null)" ] && break
    sleep 0.2
  done
fi

ours() {  # ours PID: alive and still the daemon we started (its command line or SLURM_CONF names DIR)
  [ -r "/proc/$1/cmdline" ] || return 1
  tr '\0' '\n' <"/proc/$1/cmdline" | grep -qF "$DIR" && return 0
  { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"
}

if [ -f "$DIR/pids" ]; then
  mapfile -t entries < <(tac "$DIR/pids")
  for entry in "${entries[@]}"; do
    read -r pid name <<<"$entry"
    ours "$pid" || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do ours "$pid" || break; sleep 0.2; done
    if ours "$pid"; then
      echo "slurm-stop: $name ($pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -f "$DIR/pids"
fi
if [ "${2:-}" = --purge ]; then rm -rf "$DIR"; fi
exit 0
