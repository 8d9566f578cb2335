"""The nslab language: every command and form, defined once.

The parser, the completer, `help` and the validator read this table.  A form's
handler names a function in `nslab.handlers` (see `handlers.HANDLERS`).
"""

from __future__ import annotations

from .spec import CommandSpec
from .spec import form as f

LAB = "Lab building"
RUN = "Running and looking"
CHECK = "Checking"
JOURNAL = "Journal"
CONTAINERS = "Containers"

TABLE: tuple[CommandSpec, ...] = (
    CommandSpec("ns", LAB, "network namespaces", (
        f("ns add NAME:newns...", "build.ns_add", "create named namespaces (lo stays down, as the kernel makes it)", "ip netns add NAME"),
        f("ns del NAME:ns...", "build.ns_del", "delete namespaces and every interface in them", "ip netns del NAME"),
        f("ns ls [--all]", "look.ns_ls",
          "list the lab's namespaces and your containers; --all: also other processes' namespaces (your own, or anybody's for root)",
          "ip netns ls"),
        f("ns link TARGET:pid_or_container [NAME:newns]", "containers.ns_link",
          "name a process's or container's namespace (default name: the container's), valid while it runs",
          "ip netns attach NAME PID"),
    ), example="ns add ns1 ns2"),
    CommandSpec("veth", LAB, "a veth pair (a virtual cable)", (
        f("veth A:vend B:vend", "build.veth", "a veth pair; a bare namespace name gets the first free ethN there",
          "ip link add A type veth peer name B netns NS"),
    ), example="veth ns1 ns2   |   veth veth0 ns1:eth0"),
    CommandSpec("link", LAB, "interfaces: state, name, namespace, MTU, MAC", (
        f("link ls [NS:ns] [--all] [--stats]", "look.link_ls",
          "list interfaces of the context (or NS; --all: every namespace); --stats: rx/tx packets, bytes, drops, errors",
          "ip [-s] link show"),
        f("link del EP:ep", "build.link_del", "delete an interface (a veth takes its peer along)", "ip link del IF"),
        f("link EP:ep up", "build.link_up", "bring an interface up", "ip link set IF up"),
        f("link EP:ep down", "build.link_down", "take an interface down", "ip link set IF down"),
        f("link EP:ep name NEW:ifname", "build.link_name", "rename an interface", "ip link set IF name NEW"),
        f("link EP:ep netns NS:ns", "build.link_netns", "move an interface to another namespace", "ip link set IF netns NS"),
        f("link EP:ep mtu N:mtu", "build.link_mtu", "set the MTU", "ip link set IF mtu N"),
        f("link EP:ep mac MAC:mac", "build.link_mac", "set the MAC address", "ip link set IF address MAC"),
        f("link EP:ep rate RATE:rate [burst BURST:size] [latency LATENCY:time] [--both]", "shaping.link_rate",
          "limit what leaves IF to RATE (tbf; --both: the peer end too)", "tc qdisc replace dev IF root tbf rate RATE ..."),
        f("link EP:ep delay DELAY:time [jitter JITTER:time] [loss LOSS:percent] [duplicate DUPLICATE:percent] "
          "[corrupt CORRUPT:percent] [reorder REORDER:percent] [--both]", "shaping.link_delay",
          "delay and impair what leaves IF (netem, where the kernel has it)", "tc qdisc replace dev IF root netem delay T ..."),
        f("link EP:ep clear [--both]", "shaping.link_clear", "take the shaping off IF", "tc qdisc del dev IF root"),
        f("link EP:ep flap stop", "shaping.link_flap_stop", "stop a flap; the link is left as it was before", "ip link set IF up"),
        f("link EP:ep flap [COUNT:count] [--down SEC:seconds] [--up SEC:seconds]", "shaping.link_flap",
          "take IF down and up COUNT times (default: until stopped) in the background", "ip link set IF down; ip link set IF up"),
    ), example="link ns1:eth0 up"),
    CommandSpec("addr", LAB, "IPv4 and IPv6 addresses", (
        f("addr add EP:ep CIDR:cidr", "build.addr_add", "add an address to an interface", "ip addr add CIDR dev IF"),
        f("addr del EP:ep CIDR:cidr", "build.addr_del", "remove an address", "ip addr del CIDR dev IF"),
        f("addr ls [NS:ns] [--all]", "look.addr_ls", "list addresses of the context (or NS; --all: every namespace), link-local ones marked", "ip addr show"),
    ), example="addr add ns1:eth0 10.0.0.1/24"),
    CommandSpec("route", LAB, "routes", (
        f("route add DEST:dest via GW:ip [dev DEV:ifname]", "build.route_add", "a route through a gateway", "ip route add DEST via GW"),
        f("route add DEST:dest dev DEV:ifname", "build.route_add", "a route out of an interface", "ip route add DEST dev IF"),
        f("route del DEST:dest", "build.route_del", "remove a route", "ip route del DEST"),
        f("route ls [NS:ns] [--all]", "look.route_ls", "list routes of the context (or NS; --all: every namespace of the lab)", "ip route show"),
    ), example="ns1 route add default via 10.0.0.254"),
    CommandSpec("bridge", LAB, "Linux bridges and their ports", (
        f("bridge add NAME:bridge", "build.bridge_add", "create a bridge and bring it up", "ip link add NAME type bridge"),
        f("bridge del NAME:bridge", "build.bridge_del", "delete a bridge (its ports stay)", "ip link del NAME"),
        f("bridge ls", "look.bridge_ls", "list bridges with their ports", "bridge link"),
        f("bridge NAME:bridge add EP:ep...", "build.bridge_port_add", "enslave ports (the bridge is made when missing; ports go up)",
          "ip link set IF master NAME"),
        f("bridge NAME:bridge del EP:ep...", "build.bridge_port_del", "release ports", "ip link set IF nomaster"),
    ), example="bridge br0 add veth0 veth2"),
    CommandSpec("fdb", RUN, "what a bridge learned: MAC addresses by port", (
        f("fdb ls [--all] [BRIDGE:bridge]", "learned.fdb_ls",
          "the forwarding database of BRIDGE (default: every bridge of the context): each MAC, its port, "
          "learned or permanent, its age and the interface that owns it; --all: the ports' own (self) entries too",
          "bridge fdb show br BRIDGE"),
    ), example="fdb ls br0", journal=False),
    CommandSpec("neigh", RUN, "what a namespace learned: ARP and NDP entries", (
        f("neigh ls [NS:ns]", "learned.neigh_ls", "the neighbour table of the context (or NS): address, MAC, state, owner",
          "ip neigh show"),
    ), example="ns1 neigh ls", journal=False),
    CommandSpec("watch", RUN, "live per-interface rates", (
        f("watch [-i SEC:seconds] [EP:ep...]", "learned.watch",
          "packets and bytes per second on EP... (default: the context's interfaces) until a key is pressed; "
          "not at a terminal: one sample", "ip -s link show"),
    ), example="watch ns1:eth0 v1", journal=False),
    CommandSpec("macvlan", LAB, "a macvlan: a second MAC address on an interface", (
        f("macvlan NAME:ifname EP:ep [mode MODE:macvlan_mode]", "link_kinds.macvlan",
          "NAME on EP, in EP's namespace, made down (mode default: bridge, so macvlans of one interface reach "
          "each other; iproute2's default is vepa)", "ip link add link EP name NAME type macvlan mode MODE"),
    ), example="ns1 macvlan mv0 eth0 mode bridge"),
    CommandSpec("vxlan", LAB, "a VXLAN tunnel end: Ethernet over UDP", (
        f("vxlan NAME:ifname id VNI:vni remote IP:ip [dev DEV:ifname] [port N:port]", "link_kinds.vxlan",
          "a tunnel end in the context to one remote end, made down (port default: 4789, IANA's)",
          "ip link add NAME type vxlan id VNI remote IP dev DEV dstport N"),
        f("vxlan NAME:ifname id VNI:vni group IP:ip [dev DEV:ifname] [port N:port]", "link_kinds.vxlan",
          "a tunnel end in the context that floods to a multicast group (DEV required)",
          "ip link add NAME type vxlan id VNI group IP dev DEV dstport N"),
    ), example="u1 vxlan vx0 id 42 remote 192.168.0.2 dev eth0"),
    CommandSpec("container", CONTAINERS, "containers the lab starts, stops and removes (Docker, or Podman)", (
        f("container run NAME:newns [IMAGE:word] [--network MODE:word] [-- CMD:word*]", "container_life.container_run",
          "start container NAME (default image nslab/busybox:latest, kept running by sleep) with no network of its "
          "own (--network none), labelled as the lab's, and name its namespace NAME; --network lab (Podman): inside "
          "the lab's namespace NAME, made now when missing; undo removes it",
          "docker run -d --name NAME --network none IMAGE CMD; ip netns attach NAME PID"),
        f("container ls", "container_life.container_ls", "the containers this lab started: name, id, image, state, PID",
          "docker ps -a --filter label=nslab.lab=LAB"),
        f("container stop NAME:ns", "container_life.container_stop", "stop a container this lab started (its namespace is then gone)",
          "docker stop NAME"),
        f("container rm NAME:ns", "container_life.container_rm", "remove a container this lab started, and its namespace's name",
          "docker rm -f NAME; ip netns del NAME"),
    ), example="container run srv"),
    CommandSpec("pipework", CONTAINERS, "attach a container to a bridge, as pipework does", (
        f("pipework BRIDGE:bridge [-i IF:ifname] [-l NAME:ifname] CONTAINER:container ADDR:cidr_gw [MAC:mac_vlan]", "containers.pipework",
          "veth from BRIDGE (br*: Linux, ovs*: Open vSwitch, made when missing) to IF (default eth1) in CONTAINER "
          "with ADDR=CIDR[@GW] (default route via GW) and MAC[@VLAN]; -l names the host end",
          "pipework BRIDGE [-i IF] CONTAINER CIDR[@GW] [MAC][@VLAN]"),
    ), example="pipework br1 c1 10.88.0.2/24@10.88.0.1"),
    CommandSpec("sysctl", LAB, "a network sysctl in the context", (
        f("sysctl KEY:word VALUE:word", "build.sysctl", "set net.* sysctl (e.g. net.ipv4.ip_forward 1)", "sysctl -w KEY=VALUE"),
    ), example="router sysctl net.ipv4.ip_forward 1"),
    CommandSpec("enter", RUN, "make a namespace the context", (
        f("enter NS:ns", "look.enter", "change the context; the prompt shows it", "ip netns exec NS bash"),
    ), example="enter ns1", journal=False),
    CommandSpec("leave", RUN, "go back to the host context", (
        f("leave", "look.leave", "back to host"),
    ), journal=False),
    CommandSpec("shell", RUN, "an interactive shell inside a namespace", (
        f("shell [NS:ns]", "look.shell", "run $SHELL inside NS (default: the context)", "ip netns exec NS bash"),
    ), journal=False),
    CommandSpec("exec", RUN, "run a program inside a namespace", (
        f("exec ARGV:word*", "programs.exec", "exec [-d] [NS] PROG ARGS...: argv only, no shell unless you write one; "
          "-d (or a last word &): in the background, named by a short id (`ps`, `logs ID`, `kill ID`)",
          "ip netns exec NS PROG ARGS"),
    ), example="exec ns1 ip addr", journal=False),
    CommandSpec("ps", RUN, "the lab's background programs (`exec -d`, `NS PROG ARGS &`)", (
        f("ps", "background.ps", "id, namespace, PID, state and command of each", "ps -o pid,stat,args -p PID"),
    ), example="ps", journal=False),
    CommandSpec("logs", RUN, "what a background program printed", (
        f("logs ID:word", "background.logs", "its output so far (kept in a file of the lab's)", "cat LOG"),
    ), example="logs p1", journal=False),
    CommandSpec("kill", RUN, "stop a background program", (
        f("kill ID:word", "background.kill", "SIGTERM to its process group (SIGKILL after 1 s); undo starts it again", "kill PID"),
    ), example="kill p1"),
    CommandSpec("serve", RUN, "nslab's own small servers in a namespace, as background programs (`ps`, `logs`, `kill`)", (
        f("serve http NS:ns [PORT:port]", "serve.serve_http",
          "a web server in NS on PORT (default 80) answering every GET with a line naming NS; undo stops it",
          "ip netns exec NS python3 -m http.server PORT"),
        f("serve echo NS:ns PORT:port", "serve.serve_echo", "a TCP server in NS on PORT that sends back what it gets",
          "ip netns exec NS socat TCP-LISTEN:PORT,fork EXEC:cat"),
    ), example="serve http b   |   serve echo b 7"),
    CommandSpec("connect", RUN, "a TCP connection from one namespace to another", (
        f("connect A:ns B:target PORT:port", "serve.connect",
          "a TCP handshake from A to B (an address, or a namespace: its first IPv4) on PORT, accepted or why not",
          "ip netns exec A nc -z B PORT"),
    ), example="connect a b 80", journal=False),
    CommandSpec("ping", RUN, "ICMP echo from the context", (
        f("ping [-c N:count] [-i SEC:seconds] [-W SEC:seconds] [-I IF:ifname] TARGET:target", "look.ping",
          "3 echo requests unless -c N, 1 s apart (-i), each waiting 1 s for its reply (-W), a line per reply as "
          "iputils prints; -I IF sends out of IF; TARGET may be a namespace (its first IPv4 address)", "ping -c N TARGET"),
    ), example="ns1 ping -c 3 10.0.0.2", journal=False),
    CommandSpec("capture", RUN, "packets on interfaces, one line each as tcpdump -n -e shows them", (
        f("capture start [-q] [-w FILE:file] EP:ep... [-- FILTER:filter*]", "capture.capture_start",
          "the same in the background: lines come as packets do (-q: only into the file) until `capture stop`"),
        f("capture ls", "capture.capture_ls", "the background captures, with their packets so far"),
        f("capture stop [ID:count]", "capture.capture_stop", "stop background capture ID (default: all); counts per endpoint"),
        f("capture [-c N:count] [-t SEC:seconds] [-w FILE:file] EP:ep... [-- FILTER:filter*]", "capture.capture",
          "packets on the endpoints in time order, until N packets, SEC seconds or Ctrl-C; -w: a pcapng with one "
          "interface per endpoint; FILTER: arp ip ip6 icmp icmp6 udp tcp vlan, host IP, port N, ether MAC, "
          "and/or/not, ( ) (not BPF)", "tcpdump -n -e -i IF [-c N] [-w FILE] [FILTER]"),
    ), example="capture -c 4 ns1:eth0 ns2:eth0 -- icmp or arp", journal=False),
    CommandSpec("trace", RUN, "one probe's path through the lab, hop by hop", (
        f("trace [-I IF:ifname] [--json] TARGET:target", "trace.trace",
          "one ARP (NDP for IPv6) and one ICMP echo from the context while every interface of the lab is watched: each packet's "
          "path (veths, bridge ports, routers), and where and why it stopped; IPv4 and IPv6"),
    ), example="ns1 trace ns2   |   trace -I br0 10.0.0.1", journal=False),
    CommandSpec("pingall", RUN, "every namespace pings every other", (
        f("pingall [-c N:count] [-W SEC:seconds] [NS:ns...]", "traffic.pingall",
          "a matrix of loss and round-trip times between the namespaces (default: all) by their first IPv4 "
          "addresses, every echo sent at once (a LAN too big for the machine's ARP table: in waves of sources)",
          "for each pair: ip netns exec A ping -c N B"),
    ), example="pingall   |   pingall ns1 ns2 ns3", journal=False),
    CommandSpec("perf", RUN, "a throughput test between two namespaces", (
        f("perf [-t SEC:seconds] [--udp] [--rate R:rate] [--json] A:ns B:ns", "traffic.perf",
          "a sender in A, a listener in B (its first IPv4 address): Mbit/s, and retransmits (TCP) or loss (UDP); "
          "--rate paces the sender (UDP's default: 1mbit, as iperf3's)", "iperf3 -s in B; iperf3 -c B in A"),
    ), example="perf ns1 ns2   |   perf -t 5 --udp --rate 50mbit ns1 ns2", journal=False),
    CommandSpec("show", RUN, "the topology as a tree", (
        f("show --svg FILE:file", "journal_cmds.show_svg", "draw the topology as an SVG picture in FILE (for slides and docs)"),
        f("show [NS:ns]", "look.show", "namespaces, interfaces, peers, bridges, addresses, routes"),
    ), journal=False),
    CommandSpec("web", RUN, "a live picture of the lab in the browser", (
        f("web [--port PORT:port] [--listen ADDR:ip] [--open]", "look.web",
          "serve the lab's picture and journal, following every step, on 127.0.0.1 (or ADDR) with a token in the URL"),
    ), example="web   |   web --port 8080 --open", journal=False),
    CommandSpec("expect", CHECK, "an assertion that must hold", (
        f("expect reach [-I IF:ifname] TARGET:target", "expect.expect_reach", "TARGET answers a ping from the context (out of IF)",
          "ping -c1 [-I IF] TARGET"),
        f("expect noreach [-I IF:ifname] TARGET:target", "expect.expect_noreach", "TARGET does not answer (out of IF)",
          "! ping -c1 [-I IF] TARGET"),
        f("expect ns NAME:ns", "expect.expect_ns", "the namespace exists", "ip netns ls"),
        f("expect no ns NAME:ns", "expect.expect_no_ns", "the namespace does not exist", "ip netns ls"),
        f("expect no link EP:ep", "expect.expect_no_link", "the interface does not exist", "ip link show IF"),
        f("expect link EP:ep up", "expect.expect_link_up", "the interface exists and is up", "ip link show IF"),
        f("expect link EP:ep down", "expect.expect_link_down", "the interface exists and is down", "ip link show IF"),
        f("expect link EP:ep", "expect.expect_link", "the interface exists", "ip link show IF"),
        f("expect addr EP:ep CIDR:cidr", "expect.expect_addr", "the interface holds the address", "ip addr show IF"),
        f("expect master EP:ep BRIDGE:bridge", "expect.expect_master", "the interface is a port of the bridge", "ip link show IF"),
        f("expect connect A:ns B:target PORT:port", "serve.expect_connect",
          "B (an address, or a namespace: its first IPv4) accepts a TCP connection from A on PORT", "ip netns exec A nc -z B PORT"),
        f("expect no connect A:ns B:target PORT:port", "serve.expect_no_connect",
          "a TCP connection from A to B on PORT is refused or gets no answer", "! ip netns exec A nc -z B PORT"),
        f("expect route DEST:dest via GW:ip", "expect.expect_route", "the route exists through GW", "ip route show DEST"),
        f("expect route DEST:dest dev DEV:ifname", "expect.expect_route_dev", "the route exists out of IF", "ip route show DEST"),
        f("expect neigh IP:ip", "learned.expect_neigh", "the context resolved IP (ARP/NDP)", "ip neigh show to IP"),
        f("expect neigh IP:ip MAC:mac", "learned.expect_neigh", "the context resolved IP to MAC", "ip neigh show to IP"),
        f("expect neigh IP:ip EP:ep", "learned.expect_neigh", "the context resolved IP to EP's MAC", "ip neigh show to IP"),
        f("expect fdb BRIDGE:bridge EP:ep", "learned.expect_fdb",
          "BRIDGE (in the context) learned EP's MAC on the port that leads to EP", "bridge fdb show br BRIDGE"),
        f("expect path [-I IF:ifname] TARGET:target via EP:ep...", "trace.expect_path",
          "a trace from the context to TARGET passes the endpoints in order (nslab only: no iproute2 check)"),
        f("expect pingall except PAIR:pair...", "traffic.expect_pingall",
          "every namespace answers every other, except the pairs A-B (either way), which must not", "ping each pair"),
        f("expect pingall", "traffic.expect_pingall", "every namespace with an IPv4 address answers every other", "ping each pair"),
        f("expect perf A:ns B:ns at least R:rate", "traffic.expect_perf", "a TCP test from A to B gets at least R",
          "iperf3 -c B"),
    ), example="ns1 expect reach 10.0.0.2", journal=False),
    CommandSpec("history", JOURNAL, "the steps so far", (
        f("history [--ip] [N:count]", "journal_cmds.history", "the last N steps with source, time and outcome; --ip: iproute2 lines"),
    ), journal=False),
    CommandSpec("save", JOURNAL, "write the successful steps as a .lab", (
        f("save [--expects] FILE:file", "journal_cmds.save", "a .lab that rebuilds this lab (checked by the dry run); --expects: keep the goals that held"),
    ), journal=False),
    CommandSpec("export", JOURNAL, "write the lab out: a bash script, netplan or networkd files, a containerlab topology, a picture", (
        f("export sh [--teardown] FILE:file", "journal_cmds.export_sh", "a bash script that builds (or with --teardown removes) the lab"),
        f("export netplan DIR:file", "export_cmds.export_netplan", "one netplan file per machine (each namespace): DIR/NS/50-nslab.yaml"),
        f("export networkd DIR:file", "export_cmds.export_networkd", "systemd-networkd .netdev/.network files per machine: DIR/NS/"),
        f("export clab [--image IMAGE:word] FILE:file", "export_cmds.export_clab",
          "the lab as a containerlab topology (namespaces as linux nodes, default image alpine:3)"),
        f("export dot FILE:file", "journal_cmds.export_dot", "the topology as a Graphviz graph (`dot -Tsvg FILE`)"),
        f("export mermaid FILE:file", "journal_cmds.export_mermaid", "the topology as a mermaid flowchart (GitHub renders it)"),
    ), journal=False),
    CommandSpec("undo", JOURNAL, "undo the last steps", (
        f("undo [N:count]", "journal_cmds.undo", "undo the last N steps (default 1)"),
    ), journal=False),
    CommandSpec("reset", JOURNAL, "undo every step", (
        f("reset", "journal_cmds.reset", "undo everything this lab made, in reverse order"),
    ), journal=False),
    CommandSpec("source", JOURNAL, "run a .lab file here", (
        f("source FILE:file", "journal_cmds.source", "run every line of FILE through this session"),
    ), journal=False),
    CommandSpec("check", CHECK, "grade the lab against a file's expect lines", (
        f("check [FILE:file]", "goals.check", "evaluate only the expect lines of FILE (default: the open exercise)"),
    ), example="check exercises/01-veth-to-namespace.lab", journal=False),
    CommandSpec("goals", CHECK, "the open exercise's goals, re-checked now", (
        f("goals", "goals.goals", "every goal of the exercise `nslab run -i` opened, numbered, met or unmet"),
    ), journal=False),
    CommandSpec("hint", CHECK, "a hint for a goal of the open exercise", (
        f("hint [N:count]", "goals.hint", "goal N's hint (default: the first unmet goal's), from the exercise file"),
    ), example="hint 2", journal=False),
    CommandSpec("help", JOURNAL, "help on commands", (
        f("help [CMD:cmd]", "journal_cmds.help", "list commands, or one command's forms"),
    ), journal=False),
)

# words only the REPL takes (it handles them before the parser): `help` lists them with the rest
REPL_WORDS: tuple[tuple[str, str], ...] = (
    ("exit", "leave the REPL (also quit, Ctrl-D); asks first when an isolated lab holds something"),
    ("exit!", "leave the REPL at once, without asking; an isolated lab goes with it"),
)

BY_NAME: dict[str, CommandSpec] = {c.name: c for c in TABLE}
# link kinds this kernel lacks (checked by tests/test_link_kinds.py: `ip link add ... type KIND` fails in a
# fresh namespace): a line asking for one is refused in these words, whatever follows
MISSING_KINDS = {
    "vlan": "802.1q VLANs (the 8021q module)",
    "dummy": "dummy interfaces (the dummy module)",
    "bond": "bonding (the bonding module)",
    "gre": "GRE tunnels (the ip_gre module)",
    "geneve": "Geneve tunnels (the geneve module)",
}
BRIDGE_VLAN = "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)"
WORDS: frozenset[str] = frozenset(BY_NAME) | {"host"} | frozenset(MISSING_KINDS)


def missing(what: str) -> str:
    return (f"this kernel has no {what}, so nslab cannot make them; beyond veth and bridge it has macvlan "
            "and vxlan (`help macvlan`, `help vxlan`)")
