#!/usr/bin/env bash
# Stand up a single-node Slurm cluster with accounting on this (Debian) machine, everything under DIR.
#
#   scripts/slurm/start.sh DIR     # then: export SLURM_CONF=DIR/etc/slurm.conf
#   scripts/slurm/stop.sh DIR      # ends exactly the daemons this script started
#
# Needs root and Debian's packages (installed here when missing, with apt-get):
#   munge slurmctld slurmd slurm-client slurmdbd mariadb-server
# The daemons are started directly (no init system runs them), in the foreground of their own
# sessions, and their PIDs are kept in DIR/pids. Nothing outside DIR is written: munge gets its own key
# and socket, MariaDB its own data directory on a loopback port, Slurm its own configuration, spool and
# state directories and four loopback ports (ATTNBENCH_SLURM_PORT and the three above it; by default
# the first free run of four from 16817 up). Running it again while the cluster answers does nothing;
# a half-started cluster is stopped and started afresh.
# Prints SLURM_CONF=... as its last line.
set -euo pipefail

DIR=${1:?usage: start.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=${ATTNBENCH_SLURM_PORT:-}
if [ -z "$PORT" ] && [ -f "$DIR/etc/slurm.conf" ]; then  # a restart keeps the ports its clients were told
  PORT=$(sed -n 's/^SlurmctldPort=//p' "$DIR/etc/slurm.conf")
fi
if [ -z "$PORT" ]; then  # the first of 16817, 16827, ... with it and the three above it free
  PORT=16817
  while in_use $PORT || in_use $((PORT + 1)) || in_use $((PORT + 2)) || in_use $((PORT + 3)); do
    PORT=$((PORT + 10))
    [ $PORT -lt 17817 ] || { echo "slurm-start: no free ports from 16817 up" >&2; exit 1; }
  done
fi
CTLD_PORT=$PORT SLURMD_PORT=$((PORT + 1)) DBD_PORT=$((PORT + 2)) DB_PORT=$((PORT + 3))
NODE=$(hostname -s)
export SLURM_CONF=$DIR/etc/slurm.conf

say() { echo "slurm-start: $*" >&2; }
die() { say "$*"; exit 1; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...: retry COMMAND until it succeeds
  local limit=$1 what=$2; shift 2
  for _ in $(seq $((limit * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what did not come up within ${limit} s; logs in $DIR/log"
}

[ "$(id -u)" = 0 ] || die "needs root (the daemons run as root, as on a CI machine)"

all_alive() {  # the five daemons in DIR/pids all still run
  [ "$({ wc -l <"$DIR/pids"; } 2>/dev/null)" = 5 ] || return 1
  while read -r pid _; do [ -s "/proc/$pid/cmdline" ] || return 1; done <"$DIR/pids"
}
if all_alive && scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mix|alloc'; then
  say "already running (pids in $DIR/pids)"
  echo "SLURM_CONF=$SLURM_CONF"
  exit 0
fi
[ -e "$DIR/pids" ] && "$HERE/stop.sh" "$DIR"

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
missing=()
for pkg in "${PACKAGES[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

rm -rf "$DIR"/{etc,munge,mysql,state,spool,log}
mkdir -p "$DIR"/{etc,munge,mysql,state,spool,log}
chmod 755 "$DIR/munge"  # the socket must be reachable by the users who submit
: >"$DIR/pids"

start() {  # start NAME COMMAND...: run COMMAND in the foreground of its own session, keep its PID
  local name=$1; shift
  setsid "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
  echo "$! $name" >>"$DIR/pids"
}

# munge: its own key and socket
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
start munged munged --foreground --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
  --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
wait_for 10 munged munge --socket="$DIR/munge/munge.socket" -n

# MariaDB on a loopback port, for slurmdbd
mariadb-install-db --no-defaults --datadir="$DIR/mysql/data" --user=root --auth-root-authentication-method=normal \
  >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
start mariadbd mariadbd --no-defaults --user=root --datadir="$DIR/mysql/data" --socket="$DIR/mysql/mysql.sock" \
  --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$DIR/mysql/mariadbd.pid" --skip-name-resolve \
  --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 --log-error="$DIR/log/mariadbd.log"
wait_for 30 mariadbd mariadb --no-defaults --socket="$DIR/mysql/mysql.sock" -u root -e "SELECT 1"
mariadb --no-defaults --socket="$DIR/mysql/mysql.sock" -u root -e \
  "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'attnbench';
   GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"

# Slurm's configuration: one node with this machine's CPUs, jobs tracked without cgroups
CPUS=$(nproc)
cat >"$DIR/etc/slurm.conf" <<EOF
ClusterName=attnbench
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/state/slurmctld.pid
SlurmdPidFile=$DIR/spool/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/etc/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=5
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$DIR/munge/munge.socket
MailProg=/bin/true
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
: >"$DIR/etc/plugstack.conf"
cat >"$DIR/etc/slurmdbd.conf" <<EOF
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
PidFile=$DIR/state/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=attnbench
StorageLoc=slurm_acct_db
EOF
chmod 600 "$DIR/etc/slurmdbd.conf"

start slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
wait_for 30 slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$DBD_PORT"
start slurmctld slurmctld -D -i -f "$SLURM_CONF"
wait_for 30 slurmctld bash -c "scontrol ping | grep -q UP"
start slurmd slurmd -D -f "$SLURM_CONF" -N "$NODE"
wait_for 30 "the node" bash -c "sinfo -h -o %T | grep -qE '^(idle|mix|alloc)'"
wait_for 30 "accounting" sacct -n -X -S now
say "up: node $NODE with $CPUS CPUs, partition debug, accounting through slurmdbd (pids in $DIR/pids)"
echo "SLURM_CONF=$SLURM_CONF"
