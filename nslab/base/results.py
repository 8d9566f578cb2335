"""What handlers return: plain data.  Only `render` turns it into text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    """A line of words for the person, in a style."""

    text: str
    style: str = ""  # "", "ok", "warn", "error", "dim"


@dataclass
class Table:
    """Rows under column names (`ls` commands); KEY names it in --json output."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    key: str = ""  # name for --json output


@dataclass
class Tree:
    """The topology: [{"ns": name, "links": [...], "routes": [...]}, ...]."""

    namespaces: list[dict[str, Any]]


@dataclass
class PingReply:
    """One echo's answer (or its loss), as iputils prints a line."""

    target: str
    seq: int
    ttl: int | None
    ms: float | None  # None: no reply within the wait
    size: int = 64
    source: str = ""


@dataclass
class PingSummary:
    """A ping's totals, as iputils' statistics lines give them."""

    target: str
    sent: int
    received: int
    rtts: list[float] = field(default_factory=list)
    time_ms: float = 0.0  # from the first echo sent to the last packet, as iputils counts it

    @property
    def loss(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 0.0


@dataclass
class ExpectResult:
    """An `expect` line's verdict: what it wanted and what it found."""

    ok: bool
    wanted: str
    found: str


@dataclass
class Output:
    """A line a program printed (`exec`)."""

    line: str
    stream: str = "stdout"


@dataclass
class Exited:
    """A program nslab ran ended with CODE."""

    argv: list[str]
    code: int


@dataclass
class Changes:
    """What a step created, changed or deleted."""

    lines: list[str]


@dataclass
class ContextChanged:
    """The context namespace is now CONTEXT (`enter`, `leave`): the session applies it."""

    context: str


@dataclass
class Interactive:
    """A request the face must carry out on the terminal (a shell)."""

    argv: list[str]  # empty: the person's own shell (the environment's $SHELL)
    ns: str


@dataclass
class WebRequested:
    """A request the face carries out: serve the live web view (nslab/faces/web/)."""

    listen: str
    port: int
    open: bool


@dataclass
class Failure:
    """A step that failed, with where and a caret under the word at fault."""

    message: str
    where: str = ""  # FILE:LINE
    line: str = ""
    caret: str = ""


@dataclass
class Interrupted(Failure):
    """A step Ctrl-C ended (a program, a ping, a replay): said plainly, not as an error."""


@dataclass
class ProgramOnTerminal:
    """A program is about to run on the terminal itself: what it prints goes straight to the
    screen, so nothing of it comes back as `Output`."""

    ns: str
    argv: list[str]


@dataclass
class ProgramStarted:
    """A handler's note that it runs a program (`exec`): the session records it in the step, so
    `save` and `export sh` keep it (it cannot be undone).  Never shown."""

    ns: str
    argv: list[str]


@dataclass
class SourceFile:
    """`source FILE`: the session runs the file's lines, each a step of its own."""

    path: str  # its real path, to refuse a loop
    commands: list[Any]
    opens: Any = None  # an exercise's: made the lab's open exercise once its setup ran (goals.Opened)


@dataclass
class PingPair:
    """One cell of `pingall`'s matrix: echoes from namespace src to dst's address."""

    src: str
    dst: str
    addr: str
    sent: int
    received: int
    rtts: list[float] = field(default_factory=list)
    error: str = ""  # why nothing was sent (a route out of the lab, the kernel's refusal)

    @property
    def loss(self) -> float:
        return 100.0 * (self.sent - self.received) / self.sent if self.sent else 100.0

    @property
    def avg(self) -> float | None:
        return sum(self.rtts) / len(self.rtts) if self.rtts else None


@dataclass
class PingMatrix:
    """`pingall`: every namespace to every other; `skipped` names those with no IPv4 address."""

    names: list[str]
    addrs: dict[str, str]
    pairs: list[PingPair]
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class PerfResult:
    """`perf A B`: what B's listener received from A's sender."""

    src: str
    dst: str
    addr: str
    protocol: str  # "tcp" or "udp"
    seconds: float
    bytes: int
    mbps: float
    retransmits: int | None = None  # TCP: tcpi_total_retrans of the sender's socket
    sent: int | None = None  # UDP: datagrams sent, received, lost (by sequence number)
    received: int | None = None
    lost: int | None = None
    as_json: bool = False  # `perf --json`: the record as a JSON document on stdout

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "as_json"}
        if self.protocol == "tcp":
            for k in ("sent", "received", "lost"):
                out.pop(k)
        else:
            out.pop("retransmits")
            out["loss_percent"] = 100.0 * (self.lost or 0) / self.sent if self.sent else 0.0
        return out


@dataclass
class CapturedPacket:
    """A frame a capture saw (nslab/engine/capture.py): one line, as `tcpdump -n -e` writes it."""

    time: float  # the kernel's timestamp, seconds since the epoch
    endpoint: str  # NS:IF where it was seen
    direction: str  # "In" or "Out" (the packet socket's sll_pkttype)
    src: str  # MAC
    dst: str  # MAC
    ethertype: str  # `IPv4 (0x0800)`
    length: int
    summary: str  # what follows `length N: ` in tcpdump's line
    protocol: str = ""  # the topmost protocol decoded (ARP, ICMP, ICMPv6, UDP, TCP, IPv4, IPv6)
    capture: int = 0  # a background capture's number; 0: the foreground one


@dataclass
class CaptureCounts:
    """What a capture took, per endpoint: (NS:IF, packets kept, packets read, dropped by the kernel)."""

    counts: list[tuple[str, int, int, int]]
    why: str  # what ended it: "3 packets", "2 seconds", "Ctrl-C", "capture stop"
    file: str | None = None
    capture: int = 0


@dataclass
class TraceLeg:
    """One packet of a trace: what it was, its path in words and the endpoints it passed."""

    what: str  # `ARP who-has 10.0.0.2 tell 10.0.0.1`, `echo request`, ...
    kind: str  # arp-request, arp-reply, echo-request, echo-reply, icmp-error
    hops: list[str]
    endpoints: list[str]
    sent: int = 1  # times it was sent (an unanswered ARP is asked again)
    tree: dict[str, Any] = field(default_factory=dict)


@dataclass
class TraceResult:
    """`trace TARGET`: the probe's packets in order, and where and why it stopped."""

    target: str
    addr: str
    source: str  # the context namespace
    src_ip: str
    iface: str | None
    reached: bool
    reason: str  # reached, no-route, no-arp-answer, forwarding-off, ttl-exceeded, unreachable, bridge-took-reply, link-down, source-0.0.0.0, no-reply, unknown
    why: str  # the reason in words
    legs: list[TraceLeg] = field(default_factory=list)
    watched: list[str] = field(default_factory=list)
    unwatched: list[str] = field(default_factory=list)  # what the trace could not watch, in words
    as_json: bool = False

    @property
    def path(self) -> list[str]:
        """The endpoints the echo and its reply passed, in order."""
        return [ep for leg in self.legs if leg.kind in ("echo-request", "echo-reply") for ep in leg.endpoints]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("as_json", "legs")}
        out["legs"] = [vars(leg) for leg in self.legs]
        out["path"] = self.path
        return out
