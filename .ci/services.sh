# dockerd and Open vSwitch for the container tests, started so the host's own
# network is untouched (DESIGN section 7) and stopped by PID.
CI_STATE=${CI_STATE:-/tmp/nslab-ci}

start_services() {
    mkdir -p "$CI_STATE"
    if command -v dockerd >/dev/null && [ ! -S /var/run/docker.sock ]; then
        dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
            --data-root "$CI_STATE/docker" --exec-root "$CI_STATE/docker-exec" \
            --pidfile "$CI_STATE/dockerd.pid" >"$CI_STATE/dockerd.log" 2>&1 &
        for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
        docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -20 "$CI_STATE/dockerd.log"; return 1; }
        echo "dockerd $(cat "$CI_STATE/dockerd.pid")"
    fi
    if command -v ovs-ctl >/dev/null || [ -x /usr/share/openvswitch/scripts/ovs-ctl ]; then
        PATH=$PATH:/usr/share/openvswitch/scripts
        ovs-ctl --no-ovs-vswitchd --system-id=random start >/dev/null 2>&1 || true
        ovs-ctl --no-ovsdb-server start >/dev/null 2>&1 || true
        ovs-vsctl --timeout=5 show >/dev/null && echo "openvswitch up" || echo "openvswitch did not start"
    fi
}

stop_services() {
    local pid
    if [ -f "$CI_STATE/dockerd.pid" ]; then
        pid=$(cat "$CI_STATE/dockerd.pid")
        docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1 || true
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$CI_STATE/dockerd.pid"
    fi
    for name in ovs-vswitchd ovsdb-server; do
        if [ -f "/run/openvswitch/$name.pid" ]; then
            pid=$(cat "/run/openvswitch/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    return 0
}
