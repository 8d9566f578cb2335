"""`trace` across a container attached by pipework: a real Docker container (tests/dockerkit.py;
under CI a missing engine fails, never skips), its namespace named by `ns link` so it is watched."""

from __future__ import annotations

import dockerkit
from dockerkit import ping

from nslab.base.results import TraceResult
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
