"""`trace` across a container attached by pipework: a real Docker container (tests/dockerkit.py;
under CI a missing engine fails, never skips), its namespace named by `ns link` so it is watched."""

from __future__ import annotations

import dockerkit
from conftest import iputils_ping
from dockerkit import ping

from nslab.base.results import TraceResult
from nslab.faces.render_trace import trace_lines
from nslab.lab import Lab

# the fixtures this module uses
docker_image, container = dockerkit.docker_image, dockerkit.container


def test_a_trace_into_a_pipeworked_container(lab: Lab, container) -> None:
    name = container()
    for line in ["ns add a", "veth a:eth0 v1", "bridge br1 add v1", "a addr add eth0 10.88.0.9/24", "a link eth0 up",
                 f"pipework br1 {name} 10.88.0.2/24", f"ns link {name} ctr"]:
        out = lab.run(line)
        assert out.ok, (line, out.error)
    out = lab.run("a trace 10.88.0.2")
    assert out.ok, out.error
    t = next(e for e in out.events if isinstance(e, TraceResult))
    assert t.reached, t.why
    assert "ctr:eth1" in t.watched
    echo = next(x for x in t.legs if x.kind == "echo-request")
    assert echo.hops[0] == "a:eth0" and echo.hops[1] == "br1 port v1" and echo.hops[-1] == "ctr:eth1", echo.hops
    assert ping(name, "10.88.0.9")  # the container's own ping agrees


def _host_end_gone(lab: Lab, seconds: float = 20.0) -> bool:
    """The kernel tears a stopped container's namespace down on its own time: wait (by `ip -j`)
    until pipework's host end has gone with it."""
    import json
    import subprocess
    import time

    fd = lab.nss.get("host").fd
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r = subprocess.run(["nsenter", f"--net=/proc/self/fd/{fd}", "ip", "-j", "link", "show", "master", "br1"],
                           capture_output=True, text=True, pass_fds=(fd,), timeout=20)
        if not any(x["ifname"].startswith("veth1pl") for x in json.loads(r.stdout or "[]")):
            return True
        time.sleep(0.2)
    return False


def test_a_trace_into_a_container_pipework_attached_but_never_named(lab: Lab, container) -> None:
    name = container()  # started by dockerd outside nslab; only pipework knows it
    for line in ["ns add a", "veth a:eth0 v1", "bridge br1 add v1", "a addr add eth0 10.89.0.9/24", "a link eth0 up",
                 f"pipework br1 {name} 10.89.0.2/24"]:
        out = lab.run(line)
        assert out.ok, (line, out.error)
    assert iputils_ping(lab, "a", "10.89.0.2")  # the path works
    out = lab.run("a trace 10.89.0.2")
    assert out.ok, out.error
    t = next(e for e in out.events if isinstance(e, TraceResult))
    assert t.reached, t.why
    assert f"{name}:eth1" in t.watched and not t.unwatched, (t.watched, t.unwatched)
    echo = next(x for x in t.legs if x.kind == "echo-request")
    assert echo.hops[0] == "a:eth0" and echo.hops[1] == "br1 port v1" and echo.hops[-1] == f"{name}:eth1", echo.hops
    reply = next(x for x in t.legs if x.kind == "echo-reply")
    assert reply.hops[0] == f"{name}:eth1" and reply.hops[-1] == "a:eth0", reply.hops
    # the container stops: the trace leaves it out and says so, and the echo is not answered
    dockerkit.docker("stop", "-t", "0", name)
    gone = _host_end_gone(lab)
    assert gone, "the kernel kept the stopped container's veth"
    out = lab.run("a trace 10.89.0.2")
    assert out.ok, out.error
    t = next(e for e in out.events if isinstance(e, TraceResult))
    assert not t.reached and not any(w.startswith(f"{name}:") for w in t.watched), t.watched
    assert t.unwatched == [f"container {name} (attached by pipework) has stopped: its interfaces are not watched"], t.unwatched
    assert not iputils_ping(lab, "a", "10.89.0.2")
    lines = [text for text, _ in trace_lines(t)]
    assert lines[1] == f"│  not watched: {t.unwatched[0]}", lines
