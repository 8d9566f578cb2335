"""The only place that prints: events from handlers become text (rich) or JSON."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from ..base import results as r
from ..base.environment import Environment

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7f, 0xa0)]}  # C0, DEL, C1 (0x9b is CSI)


def visible(text: str, keep: str = "") -> str:
    """TEXT with control characters written as `\\x1b`: a line echoed back from a .lab or a
    prompt must not clear the screen, set the window title or ring the bell."""
    table = {c: v for c, v in _CONTROL.items() if chr(c) not in keep}
    return text.translate(table)


def visible_lines(text: str) -> str:
    """`visible`, keeping line breaks (a message or a table cell of several lines)."""
    return visible(text, keep="\n")


def visible_caret(line: str, caret: str) -> str:
    """The caret under the same characters of `visible(line)`: each escaped one is wider."""
    lead = len(caret) - len(caret.lstrip(" "))
    marks = len(caret.strip())
    return " " * len(visible(line[:lead])) + "^" * max(len(visible(line[lead:lead + marks])), marks)


class Renderer:
    """Writes to ENV's stdout (or FILE); colour and width come from ENV unless given.  Without
    an ENV (a library caller, a test) it takes the process's."""

    def __init__(self, file: TextIO | None = None, quiet: bool = False, json_mode: bool = False,
                 show_changes: bool = False, color: bool | None = None, env: Environment | None = None) -> None:
        if env is None:
            env = Environment.of(stdout=file) if file is not None else Environment.from_process()
        self.file = file or env.stdout
        # --json: stdout holds only JSON documents, so everything else goes to stderr
        to_stderr = json_mode and file is None
        self.text_file = env.stderr if to_stderr else self.file
        if color is None:
            color = env.stderr_color if to_stderr else (env.color and self.file is env.stdout)
        self.color = color
        self.width = env.output_width
        self.environ = env.environ  # rich reads NO_COLOR, FORCE_COLOR, TERM: from this one, not os.environ
        self._console: Any = None
        self.quiet = quiet
        self.json_mode = json_mode
        self.show_changes = show_changes

    def __call__(self, event: Any) -> None:
        self.render(event)

    @property
    def console(self) -> Any:
        """rich's Console, made on first use: plain lines need no rich (0.03 s of start-up)."""
        if self._console is None:
            from rich.console import Console

            # no markup, no :emoji: codes, no highlighting: what is printed is names, addresses and
            # program output as they are (a MAC's `:ab:` is no emoji code, `[b]` no style)
            self._console = Console(file=self.text_file, no_color=not self.color, highlight=False, width=self.width,
                                    force_terminal=self.color, soft_wrap=True, markup=False, emoji=False,
                                    _environ=dict(self.environ))
        return self._console

    def line(self, text: str, style: str = "") -> None:
        if not self.color and self._console is None:
            self.text_file.write(text + "\n")
            self.text_file.flush()
            return
        from rich.text import Text

        self.console.print(Text(text, style=style))

    def render(self, event: Any) -> None:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in type(event).__name__)
        fn = getattr(self, "on" + snake, None)
        if fn is not None:
            fn(event)

    # -- events ----------------------------------------------------------
    def on_message(self, e: r.Message) -> None:
        if self.quiet and e.style != "error":
            return
        style = {"ok": "green", "warn": "yellow", "error": "bold red", "dim": "dim"}.get(e.style, "")
        self.line(("warning: " if e.style == "warn" else "") + visible_lines(e.text), style)

    def on_failure(self, e: r.Failure) -> None:
        where = f"{visible(e.where)}: " if e.where else ""
        self.line(f"error: {where}{visible_lines(e.message)}", "bold red")
        if e.line and e.caret:
            self.line(f"  {visible(e.line)}")
            self.line(f"  {visible_caret(e.line, e.caret)}", "red")
        elif e.line and e.where:
            self.line(f"  {visible(e.line)}", "dim")

    def on_interrupted(self, e: r.Interrupted) -> None:
        where = f"{visible(e.where)}: " if e.where else ""
        self.line(f"{where}interrupted", "yellow")

    def on_expect_result(self, e: r.ExpectResult) -> None:
        if e.ok:
            if not self.quiet:
                self.line(f"✓ {visible(e.wanted)}", "green")
        else:
            self.line(f"✗ expected {visible(e.wanted)}; found: {visible_lines(e.found)}", "bold red")

    def on_changes(self, e: r.Changes) -> None:
        if self.show_changes and not self.quiet:
            for line in e.lines:
                self.line(f"  {line}", "dim")

    def on_output(self, e: r.Output) -> None:
        if not self.quiet:
            self.line(e.line)

    def on_ping_reply(self, e: r.PingReply) -> None:
        if self.quiet:
            return
        from ..kernel.ping import reply_line  # the ping's own words; a lab that never pings does not import it

        self.line(reply_line(e), "yellow" if e.ms is None else "")  # iputils' words (nslab/kernel/ping.py)

    def on_ping_summary(self, e: r.PingSummary) -> None:
        if self.quiet:
            return
        from ..kernel.ping import summary_lines

        for text in summary_lines(e):
            self.line(text)

    def on_ping_matrix(self, e: r.PingMatrix) -> None:
        if self.quiet:
            return
        if self.json_mode:
            pairs = [{"from": p.src, "to": p.dst, "addr": p.addr, "sent": p.sent, "received": p.received,
                      "loss_percent": p.loss, "rtt_avg_ms": p.avg, "error": p.error or None} for p in e.pairs]
            self.file.write(json.dumps({"pingall": pairs, "skipped": e.skipped}, indent=2) + "\n")
            return
        from rich.table import Table
        from rich.text import Text

        cell = {(p.src, p.dst): p for p in e.pairs}
        table = Table(title=Text("pingall: from (rows) to (columns), average ms or loss", style="bold"),
                      title_justify="left", header_style="bold")
        table.add_column("from \\ to")
        for name in e.names:
            table.add_column(Text(visible(name)), justify="right")
        for src in e.names:
            row = [Text(visible(src), style="bold")]
            for dst in e.names:
                p = cell.get((src, dst))
                if p is None:
                    row.append(Text("-", style="dim"))
                elif p.received == 0:
                    row.append(Text("✗", style="bold red"))
                else:
                    loss = f" {p.loss:.0f}%" if p.received < p.sent else ""
                    row.append(Text(f"{p.avg:.3f}{loss}", style="yellow" if loss else ""))
            table.add_row(*row)
        if len(e.names) <= 12:  # wider than a terminal past that: the summary says it all
            self.console.print(table, soft_wrap=False)
        sent = sum(p.sent for p in e.pairs)
        got = sum(p.received for p in e.pairs)
        answered = sum(1 for p in e.pairs if p.received)
        rtts = [x for p in e.pairs for x in p.rtts]
        line = (f"{answered}/{len(e.pairs)} pairs answered, {sent} echoes sent, {got} received, "
                f"{100.0 * (sent - got) / sent if sent else 100.0:.0f}% loss")
        if rtts:
            line += f", rtt min/avg/max = {min(rtts):.3f}/{sum(rtts) / len(rtts):.3f}/{max(rtts):.3f} ms"
        self.line(line + f" ({e.seconds * 1000:.0f} ms)", "green" if answered == len(e.pairs) else "yellow")
        for p in e.pairs:
            if p.error:
                self.line(f"{visible(p.src)} -> {visible(p.dst)} ({p.addr}): {visible(p.error)}", "yellow")
        if e.skipped:
            self.line(f"skipped (no IPv4 address): {visible(', '.join(e.skipped))}", "dim")

    def on_trace_result(self, e: r.TraceResult) -> None:
        from .render_trace import render

        render(self, e)

    def on_perf_result(self, e: r.PerfResult) -> None:
        if e.as_json or self.json_mode:
            self.file.write(json.dumps({"perf": e.as_dict()}, indent=2) + "\n")
            return
        if self.quiet:
            return
        if e.protocol == "tcp":
            extra = f", {e.retransmits} retransmits"
        else:
            loss = 100.0 * (e.lost or 0) / e.sent if e.sent else 0.0
            extra = f", {e.lost}/{e.sent} datagrams lost ({loss:.2f}%)"
        self.line(f"{visible(e.src)} -> {visible(e.dst)} ({e.addr}) {e.protocol.upper()}: "
                  f"{e.mbps:.1f} Mbit/s over {e.seconds:g} s, {e.bytes} bytes{extra}")

    def on_context_changed(self, e: r.ContextChanged) -> None:
        if not self.quiet:
            self.line(f"context: {e.context}", "cyan")

    def on_table(self, e: r.Table) -> None:
        if self.quiet:
            return
        if self.json_mode:
            rows = [dict(zip(e.columns, row, strict=False)) for row in e.rows]
            self.file.write(json.dumps({e.key or e.title: rows}, indent=2) + "\n")
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(visible(e.title), style="bold"), title_justify="left", header_style="bold")
        for col in e.columns:
            table.add_column(Text(col), overflow="fold")  # a narrow terminal wraps a MAC, never cuts it to `02:ab:cd…`
        for row in e.rows:
            # Text: `[dev IF]` is not markup; a step's text may hold what the user typed
            table.add_row(*[Text("" if v is None else visible_lines(str(v))) for v in row])
        self.console.print(table, soft_wrap=False)  # the title too wraps at the width

    def on_tree(self, e: r.Tree) -> None:
        if self.quiet:
            return
        if self.json_mode:
            self.file.write(json.dumps({"namespaces": e.namespaces}, indent=2) + "\n")
            return
        from rich.text import Text
        from rich.tree import Tree

        # Text pieces, never markup: a name, an address or a route is shown as it is
        root = Tree(Text("lab", style="bold"))
        for ns in e.namespaces:
            node = root.add(Text(visible(ns["ns"]), style="bold cyan"))
            if ns.get("gone"):
                node.add(Text("gone: " + visible(ns["gone"]), style="red"))
            for link in ns["links"]:
                label = Text.assemble(visible(link["name"]), " ", (visible(link["kind"]), "dim"), " ",
                                      ("UP", "green") if link["up"] else ("DOWN", "red"))
                if link["peer"]:
                    label.append(f" <-> {visible(link['peer'])}")
                if link.get("over"):
                    label.append(f" over {visible(link['over'])}")
                if link["master"]:
                    label.append(" on ").append(visible(link["master"]), style="magenta")
                for a in link["addrs"]:
                    label.append(" " + visible(a))
                node.add(label)
            static = [rt for rt in ns["routes"] if not rt["kernel"]]
            if static:
                rnode = node.add(Text("routes", style="dim"))
                for rt in static:
                    rnode.add(Text(visible(rt["dst"] + (f" via {rt['via']}" if rt["via"] else "")
                                           + (f" dev {rt['dev']}" if rt["dev"] else ""))))
        self.console.print(root)

    def on_captured_packet(self, e: r.CapturedPacket) -> None:
        if self.json_mode:
            self.file.write(json.dumps({"packet": vars(e)}) + "\n")
            self.file.flush()
            return
        if self.quiet:
            return
        self.plain(packet_line(e))

    def on_capture_counts(self, e: r.CaptureCounts) -> None:
        if self.json_mode:
            self.file.write(json.dumps({"capture": vars(e)}) + "\n")
            return
        name = f"capture {e.capture}" if e.capture else "capture"
        into = f", written to {e.file}" if e.file else ""
        self.plain(f"{name} ended ({e.why}){into}:", "dim")
        for endpoint, kept, read, drops in e.counts:
            filtered = f" ({read} read)" if read != kept else ""
            self.plain(f"  {endpoint}: {kept} packet{'s' if kept != 1 else ''}{filtered}, {drops} dropped by the kernel")

    def plain(self, text: str, style: str = "") -> None:
        """A line holding what came from outside (a packet, a name): rich Text, never markup or emoji."""
        if not self.color and self._console is None:
            self.line(visible(text), style)
            return
        from rich.text import Text

        self.console.print(Text(visible(text), style=style or ""))

    def on_exited(self, e: r.Exited) -> None:
        pass

    def on_program_on_terminal(self, e: r.ProgramOnTerminal) -> None:
        self.text_file.flush()  # what nslab said comes before what the program writes

    def on_interactive(self, e: r.Interactive) -> None:
        pass

    def on_web_requested(self, e: r.WebRequested) -> None:
        # the REPL starts it and says its URL (faces/web/__init__.py); a file's run ends with its lab
        self.on_message(r.Message("web serves from the REPL: start nslab and type web (or source the file there)", "warn"))


def packet_line(e: r.CapturedPacket) -> str:
    """A captured packet's line, as `tcpdump -n -e` writes it: the REPL's and the web page's capture."""
    us = round(e.time * 1e6)  # as the pcapng holds it
    stamp = time.strftime("%H:%M:%S", time.localtime(us // 1_000_000)) + f".{us % 1_000_000:06d}"
    mark = f"[{e.capture}] " if e.capture else ""
    return (f"{mark}{stamp} {e.endpoint} {e.direction:<3} {e.src} > {e.dst}, ethertype {e.ethertype}, "
            f"length {e.length}: {e.summary}")
