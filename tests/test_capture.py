"""`capture` judged by oracles nslab did not write: tshark and tcpdump read every pcapng it writes and
agree with the lines it printed; traffic comes from iputils ping and Python sockets run by nsenter,
only inside namespaces these tests made."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ip_j

from nslab.base.results import CaptureCounts, CapturedPacket, Failure

TSHARK = ["tshark", "-n", "-o", "gui.column.format:Protocol,%p,Info,%i"]
SERVER = """
import socket, sys
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("10.0.0.2", 5001)); t.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("10.0.0.2", 5002))
print("ready", flush=True)
u.recv(100); c, _ = t.accept(); c.recv(100); c.close()
"""
CLIENT = """
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"hello", ("10.0.0.2", 5002))
time.sleep(0.1)
t = socket.create_connection(("10.0.0.2", 5001)); t.sendall(b"hi"); time.sleep(0.1); t.close()
"""


def pair(lab) -> dict[str, str]:
    for line in ["ns add a b", "veth a:eth0 b:eth0", "addr add a:eth0 10.0.0.1/24", "addr add b:eth0 10.0.0.2/24",
                 "link a:eth0 up", "link b:eth0 up"]:
        assert lab.run(line).ok, line
    return {ns: ip_j(lab, ns, "link", "show", "eth0")[0]["address"] for ns in "ab"}


def in_ns(ns: str, *argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", *argv], **kw)


def traffic(delay: float = 0.4, ipv6: bool = False) -> list[subprocess.Popen]:
    """After DELAY: ARP and 3 echoes (iputils), one UDP datagram and one TCP connection (a to b); IPV6:
    then 2 echoes to all nodes on the link (a's link-local address must be past its DAD)."""
    server = in_ns("b", sys.executable, "-c", SERVER, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    client = subprocess.Popen(["sh", "-c", f"sleep {delay}; nsenter --net=/run/netns/a ping -n -q -c 3 -i 0.2 10.0.0.2; "
                               f"nsenter --net=/run/netns/a {sys.executable} -c '{CLIENT}'"
                               + ("; nsenter --net=/run/netns/a ping -6 -n -q -c 2 -i 0.2 ff02::1%eth0" if ipv6 else "")],
                              stdout=subprocess.DEVNULL)
    return [server, client]


def done(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        assert p.wait(timeout=20) == 0


def captured(lab, line: str) -> tuple[list[CapturedPacket], list[CaptureCounts], list]:
    events = list(lab.stream_line(line))
    return ([e for e in events if isinstance(e, CapturedPacket)], [e for e in events if isinstance(e, CaptureCounts)],
            [e for e in events if isinstance(e, Failure)])


def tshark(path: str, *fields: str, display: str | None = None) -> list[list[str]]:
    argv = [*TSHARK, "-r", path, "-T", "fields", "-E", "separator=|"] + [a for f in fields for a in ("-e", f)]
    if display:
        argv += ["-Y", display]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def test_tshark_and_tcpdump_agree_with_every_line_printed(lab, tmp_path):
    macs = pair(lab)
    path = str(tmp_path / "both.pcapng")
    procs = traffic()
    lines, counts, failures = captured(lab, f"capture -t 3 -w {path} a:eth0 b:eth0")
    done(procs)
    assert failures == []
    protocols = {e.protocol for e in lines}
    assert {"ARP", "ICMP", "UDP", "TCP"} <= protocols, protocols
    rows = tshark(path, "frame.interface_name", "_ws.col.Protocol", "eth.src", "eth.dst", "frame.p2p_dir", "frame.len")
    assert len(rows) == len(lines) > 20
    for e, (iface, proto, src, dst, direction, length) in zip(lines, rows, strict=True):
        assert (e.endpoint, e.protocol, e.src, e.dst, e.length) == (iface, proto, src, dst, int(length))
        assert e.direction == {"0": "Out", "1": "In"}[direction]
    assert {e.src for e in lines if e.protocol == "ICMP"} == set(macs.values())
    # tcpdump: the same time, MACs, ethertype and addresses on every line
    dump = subprocess.run(["tcpdump", "-n", "-e", "-r", path], capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(dump) == len(lines)
    for e, text in zip(lines, dump, strict=True):
        us = round(e.time * 1e6)
        stamp = time.strftime("%H:%M:%S", time.localtime(us // 1_000_000)) + f".{us % 1_000_000:06d}"
        head = f"{stamp} {e.src} > {e.dst}, ethertype {e.ethertype}, length {e.length}: "
        assert text.startswith(head), (text, head)
        ours = e.summary.split(": ")[0].replace("HBH ", "")
        assert text[len(head):].replace("HBH ", "").startswith(ours), (text, e.summary)
    assert [(c[0], c[1]) for c in counts[0].counts] == [("a:eth0", sum(e.endpoint == "a:eth0" for e in lines)),
                                                         ("b:eth0", sum(e.endpoint == "b:eth0" for e in lines))]
    assert counts[0].why == "3 seconds"


def test_both_ends_of_a_path_merge_in_time_order(lab):
    pair(lab)
    procs = traffic(0.3)
    lines, counts, _ = captured(lab, "capture -t 4 a:eth0 b:eth0 -- icmp")
    done(procs)
    times = [e.time for e in lines]
    assert times == sorted(times)
    requests = [(e.endpoint, e.direction) for e in lines if "echo request" in e.summary]
    assert requests == [("a:eth0", "Out"), ("b:eth0", "In")] * 3
    replies = [(e.endpoint, e.direction) for e in lines if "echo reply" in e.summary]
    assert replies == [("b:eth0", "Out"), ("a:eth0", "In")] * 3
    assert all(re.search(r"id \d+, seq [123], length 64", e.summary) for e in lines)


def test_count_stops_the_capture_at_n_packets(lab):
    pair(lab)
    procs = traffic(0.3)
    t0 = time.monotonic()
    lines, counts, _ = captured(lab, "capture -c 2 -t 10 b:eth0 -- icmp")
    assert time.monotonic() - t0 < 5
    done(procs)
    assert len(lines) == 2 and counts[0].why == "2 packets"
    assert ["echo request" in lines[0].summary, "echo reply" in lines[1].summary] == [True, True]


FILTERS = [  # nslab's filter, tshark's display filter for the same packets
    ("arp", "arp"),
    ("icmp", "icmp"),
    ("icmp6", "icmpv6"),
    ("udp", "udp"),
    ("tcp", "tcp"),
    ("host 10.0.0.2", "ip.addr==10.0.0.2 or arp.src.proto_ipv4==10.0.0.2 or arp.dst.proto_ipv4==10.0.0.2"),
    ("port 5001", "tcp.port==5001 or udp.port==5001"),
    ("ether {a}", "eth.addr=={a}"),
    ("not arp", "not arp"),
    ("icmp or udp", "icmp or udp"),
    ("tcp and port 5001", "tcp and tcp.port==5001"),
    ("not (arp or icmp6) and ip", "not (arp or icmpv6) and ip"),
]


WHICH = ["frame.len", "eth.src", "eth.dst", "arp.opcode", "ip.id", "ipv6.src", "ipv6.dst", "icmpv6.type", "icmp.seq",
         "tcp.seq_raw", "tcp.flags"]  # what tells one packet from another, whichever file it is in


def test_each_filter_operator_keeps_what_tshark_s_display_filter_keeps(lab, tmp_path):
    macs = pair(lab)
    up = time.monotonic()
    everything = str(tmp_path / "all.pcapng")
    assert lab.run(f"capture start -q -w {everything} a:eth0").ok
    for k, (ours, _) in enumerate(FILTERS):
        out = lab.run(f"capture start -q -w {tmp_path}/f{k}.pcapng a:eth0 -- {ours.format(a=macs['a'])}")
        assert out.ok, (ours, out.error)
    since = time.time()  # every capture is open: the packets from here on are compared
    time.sleep(max(0.2, up + 2.5 - time.monotonic()))  # a's link-local address is past DAD
    done(traffic(0.1, ipv6=True))
    time.sleep(0.3)
    until = time.time()  # every capture is still open; they stop one after another
    stopped = lab.run("capture stop")
    assert stopped.ok
    assert len([e for e in stopped.events if isinstance(e, CaptureCounts)]) == len(FILTERS) + 1
    assert len(tshark(everything, "frame.number")) > 20
    for k, (ours, theirs) in enumerate(FILTERS):
        # each socket stamps its own copy: the packets are compared by what tshark says of them
        window = f"frame.time_epoch >= {since} and frame.time_epoch <= {until}"
        want = tshark(everything, *WHICH, display=f"({theirs.format(a=macs['a'])}) and {window}")
        got = tshark(f"{tmp_path}/f{k}.pcapng", *WHICH, display=window)
        assert got == want and want, ours


def test_background_capture_while_the_lab_pings_then_stop(lab, tmp_path):
    pair(lab)
    seen: list = []
    lab.captures.sink = seen.append
    path = tmp_path / "bg.pcapng"
    started = lab.run(f"capture start -w {path} a:eth0 b:eth0 -- icmp")
    assert started.ok and "capture 1 started" in started.events[0].text
    assert lab.run("a ping -c 3 -i 0.1 10.0.0.2").ok
    time.sleep(0.3)  # each ring hands its last block over within 20 ms, and lines wait 60 ms to merge in order
    listed = lab.run("capture ls").events[0]
    assert listed.rows[0][:2] == [1, "a:eth0, b:eth0"] and listed.rows[0][4] == 12
    stopped = [e for e in lab.run("capture stop 1").events if isinstance(e, CaptureCounts)]
    lines = [e for e in seen if isinstance(e, CapturedPacket)]
    assert len(lines) == 12 and {e.capture for e in lines} == {1}
    assert [c[1] for c in stopped[0].counts] == [6, 6]
    rows = tshark(str(path), "frame.interface_name", "_ws.col.Protocol")
    assert rows == [[e.endpoint, e.protocol] for e in lines]
    assert lab.run("capture ls").events[0].rows == []
    assert not lab.run("capture stop 1").ok  # stopped already: said, not ignored


def test_reset_and_the_lab_s_end_stop_background_captures(lab, tmp_path):
    pair(lab)
    assert lab.run(f"capture start -q -w {tmp_path}/r.pcapng a:eth0").ok
    assert lab.run("a ping -c 1 10.0.0.2").ok
    assert lab.run("reset").ok
    assert lab.captures.running == {}
    assert len(tshark(f"{tmp_path}/r.pcapng", "frame.number")) >= 2  # ARP and the echo at least, whole blocks
    assert not any(t.name.startswith("nslab-capture") for t in __import__("threading").enumerate())


def test_a_capture_of_what_does_not_exist_fails_cleanly(lab, tmp_path):
    pair(lab)
    for line, words in [("capture nosuch:eth0", "no namespace 'nosuch'"), ("capture a:eth9", "no interface a:eth9"),
                        ("capture a:eth0 arp", "a filter comes after `--`"),
                        (f"capture -w {tmp_path}/nodir/x.pcapng a:eth0", "cannot write"),
                        ("capture start a:eth0 -q", "needs -w FILE")]:
        out = lab.run(line)
        assert not out.ok and words in (out.error or ""), (line, out.error)
    assert not (tmp_path / "nodir").exists()
    bad = lab.run("capture a:eth0 -- tcp port 80")
    assert not bad.ok and "expected 'and' or 'or' before 'port'" in bad.error


def test_a_file_name_with_shell_metacharacters_is_written_where_asked_and_nowhere_else(lab, tmp_path, monkeypatch):
    pair(lab)
    monkeypatch.chdir(tmp_path)  # undone after the test: later tests read paths relative to the checkout
    name = "a b;$(touch pwned)|`id`&x'.pcapng"
    quoted = name.replace("'", "\\'").replace(" ", "\\ ").replace(";", "\\;").replace("$", "\\$") \
        .replace("|", "\\|").replace("`", "\\`").replace("&", "\\&").replace("(", "\\(").replace(")", "\\)")
    procs = traffic(0.2)
    lines, counts, failures = captured(lab, f"capture -c 3 -t 5 -w {quoted} a:eth0")
    done(procs)
    assert failures == [] and counts[0].file == name
    assert os.listdir(tmp_path) == [name]
    assert len(tshark(str(tmp_path / name), "frame.number")) == len(lines) == 3


def test_a_symlink_planted_at_the_file_is_refused(lab, tmp_path):
    pair(lab)
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "cap.pcapng").symlink_to(target)
    out = lab.run(f"capture -c 1 -w {tmp_path}/cap.pcapng a:eth0")
    assert not out.ok and "cannot write" in out.error
    assert target.read_text() == "keep"


@pytest.mark.parametrize("line", ["capture -c 1 -w x.pcapng a:eth0 -- icmp", "capture start a:eth0", "capture ls",
                                  "capture stop"])
def test_the_dry_run_treats_capture_as_read_only(line, tmp_path):
    from nslab.lab import dry_run
    from nslab.lang.labfile import parse_text

    os.chdir(tmp_path)
    cmds = parse_text("ns add a\nveth a:eth0 host:v0\n" + line + "\n", "t.lab").commands
    problems, n = dry_run(cmds)
    assert problems == [] and n == 3
    assert os.listdir(tmp_path) == []
    missing, _ = dry_run(parse_text("capture a:eth0\n", "t.lab").commands)
    assert "no namespace 'a'" in missing[0].message


def test_deleting_a_captured_namespace_stops_its_capture_and_the_namespace_goes(lab, tmp_path):
    pair(lab)
    seen: list = []
    lab.captures.sink = seen.append
    assert lab.run(f"capture start -q -w {tmp_path}/d.pcapng a:eth0").ok
    assert lab.run(f"capture start -q -w {tmp_path}/e.pcapng b:eth0").ok
    assert lab.run("ns del a").ok
    assert list(lab.captures.running) == [2]  # b's goes on
    assert [c.why for c in seen if isinstance(c, CaptureCounts)] == ["namespace a deleted"]
    deadline = time.monotonic() + 3  # the kernel frees a namespace on a work queue: its veth goes soon after
    while "eth0" in [x["ifname"] for x in ip_j(lab, "b", "link", "show")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "eth0" not in [x["ifname"] for x in ip_j(lab, "b", "link", "show")]  # no socket kept a alive


def test_undoing_the_namespace_a_background_capture_reads_stops_the_capture(lab, tmp_path):
    seen: list = []
    lab.captures.sink = seen.append
    assert lab.run("ns add c").ok
    assert lab.run("link c:lo up").ok
    assert lab.run(f"capture start -q -w {tmp_path}/c.pcapng c:lo").ok
    job = lab.captures.running[1]
    assert lab.run("undo 2").ok
    assert lab.captures.running == {}
    assert not job.is_alive()  # its thread ended: its socket no longer holds the namespace
    assert [c.why for c in seen if isinstance(c, CaptureCounts)] == ["namespace c deleted"]
    assert not lab.nss.exists("c")


SEND_TAGGED = """
import socket, struct, sys
dst, src = (bytes.fromhex(m.replace(":", "")) for m in sys.argv[1:3])
ip = bytes.fromhex("4500001c0001000040110000" "0a000001" "0a000002")
udp = struct.pack("!HHHH", 4000, 4001, 8, 0)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
s.send(dst + src + struct.pack("!HH", 0x8100, (3 << 13) | 10) + b"\\x08\\x00" + ip + udp + bytes(18))
"""


def test_vlan_tags_and_unreachable_reasons_read_as_tcpdump_and_tshark_read_them(lab, tmp_path):
    macs = pair(lab)
    path = str(tmp_path / "v.pcapng")
    sender = subprocess.Popen(["sh", "-c", f"sleep 0.4; nsenter --net=/run/netns/a {sys.executable} -c '{SEND_TAGGED}' "
                               f"{macs['b']} {macs['a']}; nsenter --net=/run/netns/a {sys.executable} -c "
                               "'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"x\", (\"10.0.0.2\", 9))'"])
    lines, _, failures = captured(lab, f"capture -t 2.5 -w {path} a:eth0 b:eth0 -- vlan or icmp")
    assert sender.wait(timeout=10) == 0 and failures == []
    tagged = [e for e in lines if "vlan" in e.summary]
    assert [(e.endpoint, e.direction) for e in tagged] == [("a:eth0", "Out"), ("b:eth0", "In")]  # b's kernel took it off
    for e in tagged:
        assert e.ethertype == "802.1Q (0x8100)" and e.length == 64
        assert e.summary.startswith("vlan 10, p 3, ethertype IPv4 (0x0800), 10.0.0.1.4000 > 10.0.0.2.4001: UDP, length 0")
    unreachable = [e for e in lines if "unreachable" in e.summary]
    assert [e.summary for e in unreachable] == ["10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 9 unreachable, length 37"] * 2
    assert tshark(path, "frame.interface_name", "vlan.id", "vlan.priority", "icmp.type", "icmp.code") == [
        [e.endpoint, "10" if "vlan" in e.summary else "", "3" if "vlan" in e.summary else "",
         "3" if "unreachable" in e.summary else "", "3" if "unreachable" in e.summary else ""] for e in lines]
    dump = subprocess.run(["tcpdump", "-n", "-e", "-r", path], capture_output=True, text=True, check=True).stdout.splitlines()
    assert [text.split(": ", 1)[1] for text in dump] == [e.summary for e in lines]


LAB = """ns add a b
veth a:eth0 b:eth0
addr add a:eth0 10.0.0.1/24
addr add b:eth0 10.0.0.2/24
link a:eth0 up
link b:eth0 up
capture start a:eth0 -- icmp
a ping -c 2 -i 0.2 10.0.0.2
capture stop
"""


def test_a_lab_file_captures_while_it_pings(tmp_path):
    from conftest import nslab_cli

    lab_file = tmp_path / "cap.lab"
    lab_file.write_text(LAB)
    r = nslab_cli("run", str(lab_file))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [x for x in r.stdout.splitlines() if x.startswith("[1] ")]
    assert len(lines) == 4 and all(" a:eth0 " in x for x in lines), r.stdout
    assert [("Out" in x, "echo request" in x) for x in lines] == [(True, True), (False, False)] * 2
    assert re.search(r"capture 1 ended \(capture stop\):\n  a:eth0: 4 packets", r.stdout)
    j = nslab_cli("--json", "run", str(lab_file))
    assert j.returncode == 0, j.stderr
    docs = [__import__("json").loads(x) for x in j.stdout.splitlines() if x.startswith('{"packet"')]
    assert [d["packet"]["protocol"] for d in docs] == ["ICMP"] * 4 and {d["packet"]["capture"] for d in docs} == {1}


def test_a_file_that_cannot_be_written_ends_the_capture_with_the_reason(lab):
    pair(lab)
    procs = traffic(0.2)
    out = lab.run("capture -t 3 -w /dev/full a:eth0")  # every write fails: ENOSPC
    done(procs)
    assert not out.ok and out.error == "cannot write /dev/full: No space left on device"
    seen: list = []
    lab.captures.sink = seen.append
    assert lab.run("capture start -q -w /dev/full a:eth0").ok
    done(traffic(0.1))
    time.sleep(0.3)
    assert lab.run("capture ls").events[0].rows[0][5] == "stopped: cannot write /dev/full: No space left on device"
    assert [e.text for e in seen] == ["capture 1 stopped: cannot write /dev/full: No space left on device"]
    stopped = lab.run("capture stop")
    assert stopped.ok and "it had stopped: cannot write /dev/full" in stopped.events[0].why


@pytest.fixture
def open_tmp():
    """A directory nobody can use (pytest's tmp_path is under a 0700 directory of root's)."""
    import shutil
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="nslab-capture-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_an_isolated_lab_captures_without_root(open_tmp):
    """As nobody with no capability (setpriv), `nslab run` isolates itself in a user namespace and
    captures there; tshark reads what it wrote."""
    import importlib.util
    import shutil
    from pathlib import Path

    from conftest import ROOT

    tmp_path = open_tmp
    site = tmp_path / "site"
    site.mkdir()
    for name in ("dpkt", "rich", "markdown_it", "mdurl", "pygments", "prompt_toolkit", "wcwidth", "pyroute2"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        src = Path(spec.origin)
        if src.name == "__init__.py":
            shutil.copytree(src.parent, site / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, site / src.name)
    (tmp_path / "c.lab").write_text(LAB.replace("capture start a:eth0", f"capture start -w {tmp_path}/x.pcapng a:eth0"))
    subprocess.run(["chmod", "-R", "a+rwX", str(tmp_path)], check=True)
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": f"{ROOT}:{site}", "HOME": str(tmp_path),
           "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m", "nslab", "run",
                        str(tmp_path / "c.lab")], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.stat(tmp_path / "x.pcapng").st_uid == 65534
    assert tshark(str(tmp_path / "x.pcapng"), "frame.interface_name", "_ws.col.Protocol") == [["a:eth0", "ICMP"]] * 4


def test_a_flood_fills_the_file_and_says_how_many_lines_it_did_not_show(lab, tmp_path):
    from nslab.base.results import Message

    pair(lab)
    path = str(tmp_path / "flood.pcapng")
    flood = subprocess.Popen(["sh", "-c", "sleep 0.3; exec nsenter --net=/run/netns/a ping -f -q -c 20000 10.0.0.2"],
                             stdout=subprocess.DEVNULL)
    events = list(lab.stream_line(f"capture -t 2 -w {path} a:eth0"))
    assert flood.wait(timeout=20) == 0
    lines = [e for e in events if isinstance(e, CapturedPacket)]
    notes = [e.text for e in events if isinstance(e, Message)]
    counts = [e for e in events if isinstance(e, CaptureCounts)][0]
    kept, drops = counts.counts[0][1], counts.counts[0][3]
    unshown = sum(int(n.split()[0]) for n in notes)
    assert notes and all(n.endswith(f"more packets came faster than lines can be shown; all are in {path}") for n in notes)
    assert len(lines) + unshown == kept >= 40_000  # 20,000 echoes and their replies, and the ARP before them
    assert len(tshark(path, "frame.number")) == kept  # every packet kept is in the file, shown or not
    assert drops < kept / 100, (drops, kept)
