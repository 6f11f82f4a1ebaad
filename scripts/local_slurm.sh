#!/usr/bin/env bash
# A single-node Slurm "cluster" on 127.0.0.1 for the integration test (root, Debian, no systemd).
#   scripts/local_slurm.sh start   install slurmctld/slurmd/munge if needed, start them, smoke-test
#   scripts/local_slurm.sh stop    stop ONLY the daemons this script started (their pid files)
#   scripts/local_slurm.sh status
# The node has all CPUs, 90 % of the memory and one fake GPU (gres File=/dev/null), so
# `--gpus=1` jobs are schedulable. No accounting: use `slurm-status-command: squeue`.
set -euo pipefail

ACTION=${1:-start}
STATE=${XAI_SLURM_STATE:-/run/xai-slurm}      # pid files and the list of daemons we started
PID_MUNGE=$STATE/munge/munged.pid   # in a munge-owned folder: munged runs as user munge
PID_CTLD=$STATE/slurmctld.pid
PID_SLURMD=$STATE/slurmd.pid

log() { echo "[local-slurm] $*" >&2; }
die() { echo "[local-slurm] ERROR: $*" >&2; exit 1; }

wait_for() {  # wait_for SECONDS WHAT CMD...
  local n=$1 what=$2; shift 2
  for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  die "$what not ready after ${n}s"
}

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  local pkgs=(slurmctld slurmd slurm-client munge) missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
  local cpus mem
  cpus=$(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  mem=$((mem * 9 / 10))  # more than slurmd detects would drain the node
  install -d -m 0755 /etc/slurm "$STATE" /var/log/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=xaicluster
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$PID_CTLD
SlurmdPidFile=$PID_SLURMD
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# finished jobs stay visible 2 h: squeue status checks, and tests read their records (scontrol)
# after a run of up to 25 minutes
MinJobAge=7200
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
Waittime=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  printf 'AutoDetect=off\nNodeName=localhost Name=gpu File=/dev/null\n' > /etc/slurm/gres.conf
}

start() {
  [[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts daemons)"
  install_packages
  write_config
  [[ -s /etc/munge/munge.key ]] || mungekey --create --force
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  install -d -o munge -g munge -m 0755 "$STATE/munge"
  alive "$PID_MUNGE" || runuser -u munge -- /usr/sbin/munged --pid-file="$PID_MUNGE"
  wait_for 20 munge bash -c 'munge -n | unmunge'
  alive "$PID_CTLD" || slurmctld -c
  wait_for 60 slurmctld bash -c 'scontrol ping | grep -q UP'
  alive "$PID_SLURMD" || slurmd -N localhost
  wait_for 60 "node localhost" bash -c '[[ $(sinfo -h -n localhost -o %T) == idle ]]'
  local out; out=$(sbatch --wait -t 1 -o /dev/stdout --wrap 'echo ok' 2>&1 || true)
  log "smoke test: $(echo "$out" | tail -1)"
  log "up: partition debug, $(sinfo -h -o '%c CPUs, %m MB, %G')"
}

stop_one() {  # stop_one PIDFILE NAME
  if alive "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    log "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

stop() {
  if alive "$PID_CTLD"; then
    local ids; ids=$(squeue -h -o %i 2>/dev/null || true)
    [[ -n $ids ]] && scancel $ids 2>/dev/null || true
  fi
  stop_one "$PID_SLURMD" slurmd
  stop_one "$PID_CTLD" slurmctld
  stop_one "$PID_MUNGE" munged
}

status() {
  for d in munged:$PID_MUNGE slurmctld:$PID_CTLD slurmd:$PID_SLURMD; do
    if alive "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "${d#*:}"))"; else echo "${d%%:*}: stopped"; fi
  done
}

case "$ACTION" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
