#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The demo: configuring a kernel zone with zonecfg, in a scratch root that is
# removed at the end.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export KZONES_DATA_DIR="$top/templates"
root=$(mktemp -d /tmp/kzones-demo.XXXXXX)
trap 'rm -rf "$root"' EXIT
zonecfg() { "$top/$build/cli/zonecfg" -R "$root" "$@"; }
step() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
show() {
    local a out='$'
    for a in "$@"; do
        case $a in *[\ \;\<\>]*) out+=" '$a'" ;; *) out+=" $a" ;; esac
    done
    printf '%s\n' "$out"
    "$@"
}

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

step "What is on disk"
show cat "$root/etc/zones/index"
show ls -l "$root/etc/zones"
