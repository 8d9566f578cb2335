# dockerd and Open vSwitch for the container tests, started so the host's own
# network is untouched (DESIGN section 7) and stopped by PID.
#
# dockerd: no bridge, no iptables, no masquerading, no ip_forward, data and
# exec roots under $CI_STATE; containers run with --network none.
# Open vSwitch: our own ovsdb-server and ovs-vswitchd with every file (db,
# socket, pids, logs) under $CI_STATE/ovs, no --monitor (so a kill by PID is
# final), no kernel module (this kernel has none: bridges use the userspace
# datapath). OVS_RUNDIR is exported so `nslab --host` and ovs-vsctl find it.
# The tests and the isolated labs start OVS instances of their own; this one
# serves host-mode use.
CI_STATE=${CI_STATE:-/tmp/nslab-ci}

start_services() {
    mkdir -p "$CI_STATE"
    # a stale socket from an earlier daemon does not count: only a daemon that answers
    if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
        dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
            --data-root "$CI_STATE/docker" --exec-root "$CI_STATE/docker-exec" \
            --pidfile "$CI_STATE/dockerd.pid" >"$CI_STATE/dockerd.log" 2>&1 &
        for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
        docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$CI_STATE/dockerd.log"; return 1; }
        echo "dockerd $(cat "$CI_STATE/dockerd.pid")"
    fi
    if command -v ovsdb-server >/dev/null && command -v ovs-vswitchd >/dev/null; then
        local d="$CI_STATE/ovs"
        mkdir -p "$d"
        export OVS_RUNDIR=$d OVS_DBDIR=$d OVS_LOGDIR=$d
        # already serving (started earlier from this state directory): as with dockerd, only one that answers
        if [ -S "$d/db.sock" ] && ovs-vsctl --db="unix:$d/db.sock" --timeout=2 show >/dev/null 2>&1 \
            && [ -f "$d/ovs-vswitchd.pid" ] && kill -0 "$(cat "$d/ovs-vswitchd.pid")" 2>/dev/null; then
            echo "openvswitch $(cat "$d/ovs-vswitchd.pid") (OVS_RUNDIR=$d, running already)"
            return 0
        fi
        [ -f "$d/conf.db" ] || ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema
        ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb-server.pid" \
            --log-file="$d/ovsdb-server.log" -vconsole:emer --no-chdir --detach
        ovs-vsctl --db="unix:$d/db.sock" --no-wait init
        ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/ovs-vswitchd.pid" --log-file="$d/ovs-vswitchd.log" \
            -vconsole:emer --no-chdir --detach
        ovs-vsctl --timeout=5 show >/dev/null && echo "openvswitch $(cat "$d/ovs-vswitchd.pid") (OVS_RUNDIR=$d)" \
            || { echo "openvswitch did not start:"; tail -5 "$d"/*.log; return 1; }
    fi
}

stop_services() {
    local pid name
    if [ -f "$CI_STATE/dockerd.pid" ]; then
        pid=$(cat "$CI_STATE/dockerd.pid")
        docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$CI_STATE/dockerd.pid"
    fi
    for name in ovs-vswitchd ovsdb-server; do
        if [ -f "$CI_STATE/ovs/$name.pid" ]; then
            pid=$(cat "$CI_STATE/ovs/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$CI_STATE/ovs/$name.pid"
        fi
    done
    return 0
}
