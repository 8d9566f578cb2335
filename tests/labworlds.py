"""Labs and worlds shared by the journal tests: realistic labs of our own, the bundled labs,
and the oracle's dumps of a lab, of a bash script's result, or of an empty namespace."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "nslab" / "labs"
DUMP = str(ROOT / "tests" / "ipdump.py")

# A router between two subnets, with forwarding and routes.
ROUTER = """# A router between two subnets

## Two hosts and a router
# h1 and h2 each get a cable to r.
ns add h1 h2 r
veth h1 r
veth h2 r

## Addresses and routes
h1 addr add eth0 10.1.0.2/24
r addr add eth0 10.1.0.1/24
h2 addr add eth0 10.2.0.2/24
r addr add eth1 10.2.0.1/24
h1 link eth0 up
h2 link eth0 up
r link eth0 up
r link eth1 up
r sysctl net.ipv4.ip_forward 1
h1 route add default via 10.1.0.1
h2 route add 10.1.0.0/24 via 10.2.0.1
h1 expect reach 10.2.0.2
h2 expect reach h1
h1 expect route default via 10.1.0.1
"""

# Every kind of change: MTU, MAC, rename, moves, IPv6, route and address removal,
# bridge ports in and out, a namespace made and deleted with a cable to another.
EDITS = """# Edits of every kind
ns add a b
veth a:eth0 b:eth0
a link eth0 mtu 1400
b link eth0 mtu 1400
a link eth0 mac 02:00:00:00:00:0a
a link eth0 name wan0
a addr add wan0 10.9.0.1/30
a addr add wan0 fd00::1/64
a link wan0 up
b link eth0 up
b addr add eth0 10.9.0.2/30
b route add 192.0.2.0/24 via 10.9.0.1
b route add 198.51.100.0/24 dev eth0
b route del 198.51.100.0/24
# a cable from the host, its end on a bridge and off again
veth veth9 a
link veth9 up
bridge add br1
bridge br1 add veth9
bridge br1 del veth9
addr add br1 10.7.0.1/24
ns add gone
veth gone b
ns del gone
veth veth5 veth6
link veth6 netns b
b link veth6 name side0
a addr del wan0 fd00::1/64
a expect addr wan0 10.9.0.1/30
bridge br1 add veth5
expect master veth5 br1
"""

OWN = {"router": ROUTER, "edits": EDITS}


def docker_ok() -> bool:
    return shutil.which("docker") is not None and os.path.exists("/var/run/docker.sock")


CONTAINER_NUMBERS = range(6, 9)  # labs 06-08 run containers; 09 and later are namespaces only


def needs_containers(path: Path) -> bool:
    return path.name[:2].isdigit() and int(path.name[:2]) in CONTAINER_NUMBERS


def bundled(containers: bool = False) -> list[Path]:
    """The bundled labs (01, 02, ...).  The container labs (06-08) keep state in docker,
    which namespace dumps do not see: only with `containers=True`, and only when docker runs."""
    out = []
    for path in sorted(LABS.glob("[0-9]*.lab")):
        if needs_containers(path) and not (containers and docker_ok()):
            continue
        out.append(path)
    return out


def lab_world(lab) -> dict:
    """The oracle's dump of a live nslab lab (its host and every named namespace)."""
    out = subprocess.run(["nsenter", f"--net={lab.host_ns_path}", sys.executable, DUMP],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def script_world(*scripts: str, lo_up: bool = True) -> tuple[dict, str]:
    """Run bash scripts one after another in a fresh net+mount namespace with its own /run/netns;
    return the oracle's dump of what they left, and their stderr."""
    setup = "mount -t tmpfs nslab-test /run/netns && "
    if lo_up:
        setup += "ip link set lo up && "  # a real host has lo up; the lab's host too
    body = setup + 'for s in "$@"; do bash "$s" >/dev/null || exit 3; done; exec "$PY" "$DUMP"'
    proc = subprocess.run(["unshare", "-n", "-m", "sh", "-c", body, "sh", *scripts], capture_output=True,
                          text=True, env=dict(os.environ, PY=sys.executable, DUMP=DUMP), timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"scripts {scripts} failed ({proc.returncode}): {proc.stderr}")
    return json.loads(proc.stdout), proc.stderr
