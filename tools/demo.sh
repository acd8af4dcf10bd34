#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo, in two parts:
#  1. configuring kernel zones with zonecfg, in a scratch root;
#  2. a two-host lab: a zone installed on shared storage and booted on host1,
#     its unit and its guest's heartbeat; then live-migrated to host2, where the
#     same guest (same boot id) beats on; then host2 goes into maintenance,
#     shows its evacuation plan (a dry run, the time per zone), is evacuated
#     (the zone goes live to its evacuation target, host1), refuses a boot,
#     leaves maintenance and takes its zone back with 'sysadm evacuate -r';
#     the zone is halted and the lab is torn down.
# Everything it creates is removed at the end, also when it fails.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export KZONES_DATA_DIR="$top/templates"
root=$(mktemp -d /tmp/kzones-demo.XXXXXX)
lab="$top/tests/lab/lab"
lab_up=
cleanup() {
    rm -rf "$root"
    if [ -n "$lab_up" ]; then "$lab" down >/dev/null 2>&1 || "$lab" down; fi
}
trap cleanup EXIT
zonecfg() { "$top/$build/cli/zonecfg" -R "$root" "$@"; }
step() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
show() {
    local a out='$'
    for a in "$@"; do
        case $a in *[\ \;\<\>\"]*) out+=" '$a'" ;; *) out+=" $a" ;; esac
    done
    printf '%s\n' "$out"
    "$@"
}
on() { # on HOST CMD…: show and run a command in a lab host
    local host=$1 a out
    shift
    out="$host#"
    for a in "$@"; do
        case $a in *[\ \;\<\>\"]*) out+=" '$a'" ;; *) out+=" $a" ;; esac
    done
    printf '%s\n' "$out"
    "$lab" exec "$host" "$@"
}

printf '\033[1mPart 1: configuring zones\033[0m\n'
step "Create a kernel zone from the default template, with 8G of memory and an NBD boot disk"
show zonecfg -z kz1 'create -t SYSkz; set capped-memory:physical=8G; select device id=0; set storage=nbd://storage:10809/kz1-disk0; end'
show zonecfg -z kz1 info

step "Give it a second network interface with two extra VLANs, and a suspend image on shared storage"
show zonecfg -z kz1 'add anet; set lower-link=br0; add vlan; set vlan-id=45; end; add vlan; set vlan-id=46; end; end'
show zonecfg -z kz1 'add suspend; set storage=nfs://kzones:kzones@storage/export/kz1.suspend; end'
show zonecfg -z kz1 info anet id=1

step "The guide's rules: memory-reserve excludes pagesize-policy, pages are at least 2M"
show zonecfg -z kz1 'select capped-memory; set memory-reserve=zones; end' || true
show zonecfg -z kz1 'set capped-memory:pagesize-policy=fixed; set capped-memory:pagesize=1m' || true

step "Export the configuration (with its key) and recreate it under another name, as on a migration target"
show zonecfg -z kz1 export -f "$root/kz1.cfg"
show zonecfg -z kz2 -f "$root/kz1.cfg"
echo '$ diff <(zonecfg -z kz1 export) <(zonecfg -z kz2 export)'
diff <(zonecfg -z kz1 export) <(zonecfg -z kz2 export) && echo "identical, key included"

printf '\n\033[1mPart 2: a zone on a real host\033[0m\n'
step "Start two plain hosts (systemd in containers, KVM, sshd, shared NBD storage, no bridge) with this build installed"
# one lab per machine: hold its lock (a flock on /run, as the lab tool and the
# tests take it) for the whole part, so that no test run takes the lab meanwhile
exec {lab_lock}</run
if ! flock -n "$lab_lock"; then
    echo "waiting for another lab user to finish"
    flock "$lab_lock"
fi
export KZLAB_LOCKED=1
lab_up=1
show "$lab" up 2 --plain --build "$top/$build"

step "On host1: configure a zone that boots the test guest from shared storage"
on host1 zonecfg -z demo "create -t SYSkz-minimal; set capped-memory:physical=256M; select device id=0; set storage=nbd://storage:10809/disk0; end; add boot; set kernel=/usr/share/kzones/guest/kzguest.elf; set cmdline=\"dirty=8M rate=256 interval=500\"; end"
on host1 zoneadm -z demo install
on host1 zoneadm -z demo boot
on host1 zoneadm list -cv

step "Its network is the template's (lower-link=auto): a macvtap on the default route's link; its CPU the probed native model"
on host1 ip -br link show type macvtap
on host1 busctl get-property org.kzones.Restarter1 /org/kzones/Restarter1 org.kzones.Restarter1.Manager NativeCpuModel CpuMigrationClasses

step "It is a systemd unit whose main process is the guest's QEMU"
on host1 systemctl status zone@demo --no-pager --lines=0 | cut -c1-140

step "The guest's heartbeat on its serial console (/var/log/zones/demo.console)"
for _ in $(seq 1 40); do
    "$lab" exec host1 grep -q 'kzguest: hb' /var/log/zones/demo.console 2>/dev/null && break
    sleep 0.5
done
sleep 2
on host1 tail -n 4 /var/log/zones/demo.console

step "Live-migrate it to host2: the same configuration there, each host's migration port (8102) open"
on host1 zonecfg -z demo export -f /srv/shared/demo.cfg
on host2 zonecfg -z demo -f /srv/shared/demo.cfg
on host1 rm -f /srv/shared/demo.cfg
on host1 systemctl start kz-migr.socket
on host2 systemctl start kz-migr.socket
# a zone with cpu-arch native goes only to a host whose restarter has probed its CPU
# model (at its start; up to a minute on a busy machine)
for h in host1 host2; do
    for _ in $(seq 1 240); do
        model=$("$lab" exec "$h" busctl get-property org.kzones.Restarter1 /org/kzones/Restarter1 org.kzones.Restarter1.Manager NativeCpuModel)
        [ "$model" != 's ""' ] && break
        sleep 0.5
    done
done
on host1 zoneadm -z demo migrate -c list ssh://root@host2
on host1 zoneadm -z demo migrate ssh://root@host2
on host1 zoneadm list -cv
on host2 zoneadm list -cv

step "The same guest goes on on host2: the boot id of its heartbeat is the one it had on host1"
before=$("$lab" exec host1 grep -o 'kzguest: hb boot=[0-9a-f]*' /var/log/zones/demo.console | tail -n 1)
sleep 2
on host2 tail -n 2 /var/log/zones/demo.console
after=$("$lab" exec host2 grep -o 'kzguest: hb boot=[0-9a-f]*' /var/log/zones/demo.console | tail -n 1)
if [ "$before" = "$after" ]; then echo "same boot on host2: ${after#*boot=}"; else echo "boot id changed: $before -> $after" >&2; exit 1; fi

step "Maintenance on host2: its zones go to their evacuation target, here host1 for all of them"
on host2 busctl set-property org.kzones.Restarter1 /org/kzones/Restarter1 org.kzones.Restarter1.Manager DefaultEvacuationTarget s ssh://root@host1
on host2 sysadm maintain -s -m "Patching host2"
on host2 sysadm maintain -l
on host2 sysadm evacuate -n
on host2 sysadm evacuate -v
on host2 sysadm evacuate -l
on host1 zoneadm list -cv
on host1 tail -n 1 /var/log/zones/demo.console

step "In maintenance, host2 takes no zone: a boot is refused"
if on host2 zoneadm -z demo boot; then echo "host2 booted a zone in maintenance mode" >&2; exit 1; fi

step "Maintenance over: the evacuated zone comes back to host2, the same guest"
on host2 sysadm maintain -e
on host2 sysadm evacuate -r
on host2 sysadm evacuate -l
on host2 zoneadm list -cv
sleep 1
after=$("$lab" exec host2 grep -o 'kzguest: hb boot=[0-9a-f]*' /var/log/zones/demo.console | tail -n 1)
if [ "$before" = "$after" ]; then echo "same boot back on host2: ${after#*boot=}"; else echo "boot id changed: $before -> $after" >&2; exit 1; fi

step "Halt it on host2: the zone is installed there"
on host2 zoneadm -z demo halt
on host2 zoneadm list -cv

step "Tear the lab down"
show "$lab" down
lab_up=
