#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests of `ramanujan sweep --slurm`
# (test/slurm/). Needs root and Debian's packages slurmctld, slurmd, slurm-client and munge
# (.ci/run installs them).
#
#   scripts/slurm-cluster.sh start   starts munged, slurmctld and slurmd (if not already running)
#                                    and prints the line SLURM_CONF=<path>: export it, and sbatch,
#                                    squeue, scancel talk to this cluster
#   scripts/slurm-cluster.sh stop    stops the three daemons and removes the folder
#   scripts/slurm-cluster.sh status  exits 0 when the cluster answers
#
# Everything lives under one folder, $RLTH_SLURM_DIR (default /tmp/rlth-slurm): slurm.conf, state,
# spool, logs, pid files, and munge's key and socket (its own munged, not the system's). The
# daemons listen on the loopback address only: the node and the controller are this host at
# 127.0.0.1. Ports: $RLTH_SLURM_PORT (controller, default 6917) and the next one (slurmd).
# One CPU per array task: the node has as many CPUs as this machine, so that many tasks run at once.
# Both commands are idempotent.
set -euo pipefail

dir=${RLTH_SLURM_DIR:-/tmp/rlth-slurm}
port=${RLTH_SLURM_PORT:-6917}
conf=$dir/slurm.conf
socket=$dir/munge/munge.socket
host=$(hostname -s)

die() { echo "slurm-cluster: $*" >&2; exit 1; }

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers() { SLURM_CONF=$conf timeout 10 sinfo --noheader -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

write_conf() {
  cat >"$conf" <<EOF
# Written by scripts/slurm-cluster.sh: a one-node cluster on the loopback address.
ClusterName=rlth
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  [[ $(id -u) == 0 ]] || die "needs root (slurmd runs jobs as their user)"
  for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool is missing: apt-get install slurmctld slurmd slurm-client munge"
  done
  if pid_alive "$dir/slurmctld.pid" && pid_alive "$dir/slurmd.pid" && answers; then
    echo "SLURM_CONF=$conf"
    return
  fi
  mkdir -p "$dir"/{state,spool,log,munge}
  chmod 755 "$dir"
  # munge: its own key, socket, log and pid file under $dir, owned by the munge user.
  if ! pid_alive "$dir/munge/munged.pid"; then
    [[ -f $dir/munge/munge.key ]] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none; }
    chown -R munge:munge "$dir/munge"
    chmod 755 "$dir/munge" # clients must reach the socket; the key itself is munge's alone
    chmod 400 "$dir/munge/munge.key"
    runuser -u munge -- /usr/sbin/munged --socket="$socket" --key-file="$dir/munge/munge.key" \
      --log-file="$dir/munge/munged.log" --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
      || die "munged did not start (see $dir/munge/munged.log)"
  fi
  write_conf
  export SLURM_CONF=$conf
  pid_alive "$dir/slurmctld.pid" || /usr/sbin/slurmctld -i -f "$conf" || die "slurmctld did not start (see $dir/log/slurmctld.log)"
  pid_alive "$dir/slurmd.pid" || /usr/sbin/slurmd -f "$conf" -N "$host" || die "slurmd did not start (see $dir/log/slurmd.log)"
  for _ in $(seq 60); do
    if answers; then
      echo "SLURM_CONF=$conf"
      return
    fi
    sleep 0.5
  done
  die "the cluster did not come up within 30 s (logs in $dir/log)"
}

stop_pid() {
  local file=$1
  if pid_alive "$file"; then
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

stop() {
  [[ -d $dir ]] || return 0
  if [[ -f $conf ]] && answers; then
    # Cancel what is still queued or running, so no job outlives the cluster.
    SLURM_CONF=$conf scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  fi
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) die "usage: $0 start|stop|status" ;;
esac
