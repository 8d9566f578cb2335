"""`trace` between namespaces whose interfaces are macvlan children of one parent (bridge mode).

On this kernel bridge mode hands a child's unicast to the parent's taps first (an `In` there), so
the echo, its reply and the ARP reply are seen on the parent; a broadcast (the ARP request) goes
child to child directly and is seen on the parent only as the copy it sends to its wire.
Oracles: `ip -j -d link` (who stands on what, in which mode), tcpdump on the parent (what its
taps saw come in) and iputils ping (the path works)."""

from __future__ import annotations

import signal
import subprocess
import time

from conftest import ip_j, iputils_ping, ns_path

from nslab.base.results import TraceResult
from nslab.faces.render_trace import trace_lines
from nslab.lab import Lab

# p holds the parent (its end of a veth from the host); a and b each hold one child, moved there
TWO_CHILDREN = """ns add p a b
veth p:eth0 host:p0
p link eth0 up
host link p0 up
p macvlan mv0 eth0
p macvlan mv1 eth0 mode bridge
p link mv0 netns a
p link mv1 netns b
a addr add mv0 10.7.0.1/24
b addr add mv1 10.7.0.2/24
a link mv0 up
b link mv1 up
"""


def _inbound_on(lab: Lab, ns: str, dev: str, during) -> list[str]:
    """tcpdump's lines for what came in on NS:DEV while DURING ran (`-Q in`)."""
    proc = subprocess.Popen(["nsenter", f"--net={ns_path(lab, ns)}", "tcpdump", "-l", "-n", "-Q", "in", "-i", dev,
                             "arp or icmp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = [proc.stderr.readline() for _ in range(2)]  # "verbose output suppressed", then "listening on"
        assert "listening on" in lines[-1], lines
        during()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    return out.splitlines()


def test_a_trace_across_macvlan_children_names_the_parent_and_the_hop_it_cannot_see(lab: Lab) -> None:
    for line in TWO_CHILDREN.splitlines():
        out = lab.run(line)
        assert out.ok, (line, out.events)
    for ns, name in (("a", "mv0"), ("b", "mv1")):  # both children stand on p:eth0, in bridge mode
        (link,) = ip_j(lab, ns, "-d", "link", "show", "dev", name)
        assert link["linkinfo"]["info_data"]["mode"] == "bridge", link
        (parent,) = ip_j(lab, "p", "link", "show", "dev", "eth0")
        assert link["link_index"] == parent["ifindex"], (link, parent)
    got: list = []
    seen_in = _inbound_on(lab, "p", "eth0", lambda: got.append(lab.run("a trace 10.7.0.2")))
    out = got[0]
    assert out.ok, out.error
    t = next(e for e in out.events if isinstance(e, TraceResult))
    assert t.reached, t.why
    legs = {leg.kind: leg for leg in t.legs}
    via = "via macvlan parent p:eth0 (mode bridge)"
    assert legs["echo-request"].hops == ["a:mv0", via, "b:mv1"], legs["echo-request"].hops
    assert legs["echo-reply"].hops == ["b:mv1", via, "a:mv0"], legs["echo-reply"].hops
    assert legs["arp-reply"].hops == ["b:mv1", via, "a:mv0"], legs["arp-reply"].hops
    unseen = "via macvlan parent p:eth0 (mode bridge; unseen there: switched child to child)"
    assert legs["arp-request"].hops == ["a:mv0", unseen, "b:mv1"], legs["arp-request"].hops
    assert any(f"│    a:mv0 → {unseen} → b:mv1" == text for text, _ in trace_lines(t))
    # tcpdump agrees: the parent's taps saw the unicasts come in, never the request
    assert any("ICMP echo request" in x for x in seen_in) and any("ICMP echo reply" in x for x in seen_in), seen_in
    assert any("Reply 10.7.0.2 is-at" in x for x in seen_in), seen_in
    assert not any("Request who-has" in x for x in seen_in), seen_in
    assert iputils_ping(lab, "a", "10.7.0.2")  # the path works
    assert lab.run("a expect path 10.7.0.2 via a:mv0 p:eth0 b:mv1").ok
