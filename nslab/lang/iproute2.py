"""iproute2, brctl and docker lines as nslab would write them: the words the user typed, translated.

`translate(words)` takes a command line a tutorial teaches (`ip link add br0 type bridge`,
`ip -n ns1 a add 10.0.0.1/24 dev eth0`, `brctl addif br0 veth1`, `ip netns exec ns1 ping ...`)
and returns the nslab lines that do the same, or None when it has no translation.  The parser
quotes them in its error, so a habit gets its answer, not a pointer.  Pure: no kernel.
"""

from __future__ import annotations

import shlex

# iproute2 matches an object by any prefix of its name (`ip l`, `ip a`, `ip ro`)
_OBJECTS = ("link", "address", "route")
# display options that change nothing a translation says
_DISPLAY = {"-4", "-6", "-br", "-brief", "-j", "-json", "-o", "-oneline", "-c", "-color", "-d", "-details",
            "-s", "-stats", "-p", "-pretty", "-h", "-human"}
_SHOW = {"show", "sh", "list", "ls", "lst", "l"}
_SHELLS = {"bash", "sh", "zsh", "dash", "fish"}


def _obj(word: str) -> str | None:
    if word == "netns":
        return "netns"
    return next((o for o in _OBJECTS if word and o.startswith(word)), None)


def _q(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def _in(ns: str | None, line: str) -> str:
    return f"{ns} {line}" if ns else line


def translate(words: list[str]) -> list[str] | None:
    """The nslab lines for an `ip`, `brctl` or `docker` command line (its words), or None."""
    if not words:
        return None
    head, rest = words[0], words[1:]
    if head == "ip":
        return _ip(rest, None)
    if head == "brctl":
        return _brctl(rest)
    if head == "docker":
        return _docker(rest)
    return None


def _ip(words: list[str], ns: str | None) -> list[str] | None:
    i = 0
    while i < len(words) and words[i].startswith("-"):
        if words[i] in ("-n", "-netns") and i + 1 < len(words):
            ns = words[i + 1]
            i += 2
        elif words[i] in _DISPLAY:
            i += 1
        else:
            return None
    if i == len(words):
        return None
    obj, args = _obj(words[i]), words[i + 1:]
    verb, rest = (args[0], args[1:]) if args else ("show", [])
    if obj == "netns":
        return _netns(verb, rest)
    if obj is None:
        return None
    if verb in _SHOW:
        return [_in(ns, {"link": "link ls", "address": "addr ls", "route": "route ls"}[obj])]
    if obj == "link":
        return _link(verb, rest, ns)
    if obj == "address":
        return _addr(verb, rest, ns)
    return _route(verb, rest, ns)


def _netns(verb: str, rest: list[str]) -> list[str] | None:
    if verb in _SHOW:
        return ["ns ls"]
    if verb == "add" and rest:
        return [f"ns add {' '.join(rest)}"]
    if verb in ("del", "delete") and rest:
        return [f"ns del {' '.join(rest)}"]
    if verb == "attach" and len(rest) == 2:
        return [f"ns link {rest[1]} {rest[0]}"]
    if verb == "exec" and len(rest) >= 2:
        ns, argv = rest[0], rest[1:]
        if argv[0] == "ip":
            return _ip(argv[1:], ns)
        if argv[0] in _SHELLS and len(argv) == 1:
            return [f"shell {ns}"]
        return [f"{ns} {_q(argv)}"]  # or `exec NS ...`: the same, when PROG is no nslab command
    return None


def _pairs(words: list[str]) -> dict[str, str]:
    """`key value` pairs of an `ip link` line, by iproute2's words for them."""
    return {words[k]: words[k + 1] for k in range(len(words) - 1)}


def _link(verb: str, rest: list[str], ns: str | None) -> list[str] | None:
    if verb == "add":
        kv = _pairs(rest[:rest.index("peer")] if "peer" in rest else rest)
        name = kv.get("name") or (rest[0] if rest and rest[0] not in ("name", "type") else None)
        if name is None or "type" not in kv:
            return None
        if kv["type"] == "bridge":
            return [_in(ns, f"bridge add {name}")]
        if kv["type"] == "veth":
            after = rest[rest.index("peer") + 1:] if "peer" in rest else []
            peer = _pairs(after).get("name") or (after[0] if after else None)
            if peer is None:
                return None
            where = _pairs(after).get("netns")
            return [_in(ns, f"veth {name} {where + ':' if where else ''}{peer}")]
        return None
    if verb in ("del", "delete") and rest:
        name = rest[1] if rest[0] == "dev" and len(rest) > 1 else rest[0]
        return [_in(ns, f"link del {name}")]
    if verb != "set" or not rest:
        return None
    dev, opts = (rest[1], rest[2:]) if rest[0] == "dev" and len(rest) > 1 else (rest[0], rest[1:])
    return _link_set(dev, opts, ns)


def _link_set(dev: str, opts: list[str], ns: str | None) -> list[str] | None:
    out: list[str] = []
    k = 0
    while k < len(opts):
        word, value = opts[k], opts[k + 1] if k + 1 < len(opts) else None
        if word in ("up", "down"):
            out.append(_in(ns, f"link {dev} {word}"))
            k += 1
            continue
        if word == "nomaster":
            out.append(_in(ns, f"bridge BRIDGE del {dev}"))
            k += 1
            continue
        if value is None:
            return None
        if word == "name":
            out.append(_in(ns, f"link {dev} name {value}"))
            dev = value  # what follows on the line acts on the new name
        elif word == "master":
            out.append(_in(ns, f"bridge {value} add {dev}"))
        elif word == "netns" and value.isdigit():  # a PID: its namespace needs a name first
            out += [f"ns link {value} NAME", _in(ns, f"link {dev} netns NAME")]
        elif word in ("netns", "mtu"):
            out.append(_in(ns, f"link {dev} {word} {value}"))
        elif word in ("address", "addr"):
            out.append(_in(ns, f"link {dev} mac {value}"))
        else:
            return None
        k += 2
    return out or None


def _dev_args(rest: list[str]) -> tuple[list[str], str | None]:
    """The words of an `ip addr`/`ip route` line without `dev IF`, and IF."""
    if "dev" in rest and rest.index("dev") + 1 < len(rest):
        at = rest.index("dev")
        return rest[:at] + rest[at + 2:], rest[at + 1]
    return rest, None


def _addr(verb: str, rest: list[str], ns: str | None) -> list[str] | None:
    words, dev = _dev_args(rest)
    if verb not in ("add", "del", "delete") or dev is None or not words:
        return None
    return [_in(ns, f"addr {verb[:3]} {dev} {words[0]}")]


def _route(verb: str, rest: list[str], ns: str | None) -> list[str] | None:
    words, dev = _dev_args(rest)
    if not words:
        return None
    dest = words[0]
    if verb in ("del", "delete"):
        return [_in(ns, f"route del {dest}")]
    if verb not in ("add", "replace"):
        return None
    via = f" via {words[2]}" if len(words) > 2 and words[1] == "via" else ""
    if not via and dev is None:
        return None
    return [_in(ns, f"route add {dest}{via}{' dev ' + dev if dev else ''}")]


def _brctl(words: list[str]) -> list[str] | None:
    verb, rest = (words[0], words[1:]) if words else ("", [])
    if verb == "show":
        return ["bridge ls"]
    if verb == "addbr" and len(rest) == 1:
        return [f"bridge add {rest[0]}"]
    if verb == "delbr" and len(rest) == 1:
        return [f"bridge del {rest[0]}"]
    if verb in ("addif", "delif") and len(rest) >= 2:
        return [f"bridge {rest[0]} {verb[:3]} {' '.join(rest[1:])}"]
    return None


def _docker(words: list[str]) -> list[str] | None:
    if not words or words[0] != "run":
        return None
    name = next((words[k + 1] for k in range(len(words) - 1) if words[k] == "--name"), None)
    name = name or next((w.split("=", 1)[1] for w in words if w.startswith("--name=")), "CONTAINER")
    return [f"exec docker {_q(words)}", f"ns link {name}"]


def explain(words: list[str]) -> str | None:
    """`in nslab: ...` for a line `translate` knows, in words for an error message."""
    lines = translate(words)
    if lines is None:
        return None
    said = ", then ".join(f"`{line}`" for line in lines)
    if words[0] == "docker":
        name = lines[1].split()[-1]
        return (f"in nslab: `{lines[0]}` runs docker itself; then `{lines[1]}` names its namespace, "
                f"or `pipework br1 {name} CIDR[@GW]` plugs it into a bridge")
    if any("NAME" in line.split() for line in lines):
        said += " (NAME: any new name)"
    if any("BRIDGE" in line.split() for line in lines):
        said += " (BRIDGE: the bridge it is on)"
    return f"in nslab: {said}"
