"""Completion, pure: "what fits here" at every argument kind, and candidates from an inventory (no kernel, no root)."""

from __future__ import annotations

import pytest

from nslab.faces.completion import Iface, Inventory, complete, fits
from nslab.lang import commands
from nslab.lang.lexer import current_line
from nslab.lang.spec import Arg, Group
from nslab.lang.suggestions import File, Flag, Keyword, Wanted


def kinds_of(text: str, context: str = "host") -> set[str]:
    return {w.kind for w in fits(text, context).wants if isinstance(w, Wanted)}



def words_of(text: str, what: str = "word") -> set[str]:
    if what == "option":
        return {w.flag for w in fits(text).wants if isinstance(w, Flag)}
    return {w.word for w in fits(text).wants if isinstance(w, Keyword)}



def test_first_word_is_a_command_or_a_namespace_prefix():
    f = fits("")
    assert words_of("") == set(commands.BY_NAME)
    assert kinds_of("") == {"prefix"}
    assert f.word == "" and f.start == 0
    f = fits("li")
    assert f.word == "li" and f.start == 0



def test_subcommands_and_literals():
    assert {"add", "del", "ls"} <= words_of("ns ")
    assert {"up", "down", "name", "netns", "mtu", "mac", "rate", "delay", "clear", "flap"} == words_of("link ns1:eth0 ")
    assert words_of("route add default ") == {"via", "dev"}
    assert words_of("expect no ") == {"ns", "link", "connect"}
    assert words_of("bridge br0 ") == {"add", "del"}



def test_a_literal_is_not_also_read_as_a_name():
    # `link del ` is the delete form, not an interface called "del" waiting for `up`
    assert words_of("link del ") == set()
    assert kinds_of("link del ") == {"ep"}
    # `bridge add ` names a new bridge: not `bridge NAME add` with a bridge called "add"
    assert words_of("bridge add ") == set()



@pytest.mark.parametrize("text,kind", [
    ("enter ", "ns"), ("ns del ", "ns"), ("show ", "ns"), ("link ls ", "ns"), ("shell ", "ns"),
    ("link ", "ep"), ("addr add ", "ep"), ("bridge br0 add ", "ep"), ("bridge br0 add veth0 ", "ep"),
    ("veth ", "vend"), ("veth ns1 ", "vend"), ("ns add ", "newns"), ("ns add a ", "newns"),
    ("bridge del ", "bridge"), ("expect master veth0 ", "bridge"),
    ("ping ", "target"), ("expect reach ", "target"), ("route add default via ", "ip"),
    ("route add ", "dest"), ("route add 10.0.0.0/24 dev ", "ifname"), ("ping -I ", "ifname"),
    ("addr del ns1:eth0 ", "cidr"), ("ping -c ", "count"), ("ping -W ", "seconds"), ("link eth0 mtu ", "mtu"),
    ("link eth0 mac ", "mac"), ("link eth0 rate ", "rate"), ("link eth0 rate 1mbit burst ", "size"),
    ("link eth0 delay ", "time"), ("link eth0 delay 1ms loss ", "percent"), ("source ", "file"), ("save ", "file"), ("check ", "file"),
    ("export sh ", "file"), ("help ", "cmd"), ("exec ", "ns"),
])
def test_every_argument_kind_is_asked_for_where_it_fits(text, kind):
    assert kind in kinds_of(text)



def test_every_kind_in_the_table_is_reached_by_some_line():
    """Walk each form: the line made of its literals and sample words reaches each argument."""
    samples = {"ns": "ns1", "newns": "ns9", "ep": "eth0", "vend": "ns1", "ifname": "eth0", "bridge": "br0",
               "cidr": "10.0.0.1/24", "ip": "10.0.0.1", "dest": "default", "target": "10.0.0.1", "count": "3",
               "mtu": "1500", "seconds": "1", "mac": "02:00:00:00:00:01", "word": "x", "prog": "true",
               "file": "f.lab", "container": "c1", "pid_or_container": "c1", "cmd": "link",
               "rate": "10mbit", "size": "32k", "time": "10ms", "percent": "1%",
               "vni": "42", "port": "4789", "macvlan_mode": "bridge", "pair": "a-b"}
    for spec in commands.TABLE:
        for frm in spec.forms:
            line = ""
            for item in frm.items:
                if isinstance(item, Group):
                    continue
                if isinstance(item, Arg):
                    if item.rest:
                        break
                    assert item.kind.name in kinds_of(line), (frm.pattern, line)
                    line += samples.get(item.kind.name, "x") + " "
                else:
                    line += item.word + " "



def test_options_come_first_after_a_dash_and_not_twice():
    f = fits("ping -")
    assert f.word == "-"
    assert {w.flag for w in f.wants if isinstance(w, Flag)} == {"-c", "-i", "-W", "-I"}
    assert "-c" not in words_of("ping -c 3 ", "option")
    assert "--ip" in words_of("history ", "option")
    assert "--teardown" in words_of("export sh ", "option")



def test_a_line_prefix_sets_the_context_for_endpoints():
    assert fits("ns1 link ").context == "ns1"
    assert fits("link ").context == "host"
    assert fits("link ", "r1").context == "r1"
    assert words_of("ns1 ") == set(commands.BY_NAME)
    # after `ns1 PROG` the words belong to the program
    assert fits("ns1 ip ").wants == []
    assert fits("exec ns1 ").wants == []



def test_open_quote_does_not_break_completion():
    # no exception, and the completion replaces exactly the text from its start to the cursor
    text = "source 'my fi"
    f = fits(text)
    assert (f.start, f.word) == (len("source 'my "), "fi")
    assert text[f.start:] == f.word
    # inside the quote it completes the argument the quote stands for (a file), never a command word
    assert f.wants and all(isinstance(w, File) for w in f.wants), f.wants
    assert f.value == "my fi" and f.quote == "'"



@pytest.mark.parametrize("text", ["'", "'ns", "expect 'n", "ns add 'x", 'link "et', "ping -'"])
def test_inside_an_open_quote_no_command_word_or_flag_is_offered(text):
    wants = fits(text).wants
    assert not [w for w in wants if isinstance(w, (Keyword, Flag))], wants



INV = Inventory(
    namespaces={"ns1": "namespace, 1 interface", "alpha": "namespace, 0 interfaces"},
    links={
        "host": [Iface("lo", "loopback, up", "loopback"), Iface("br0", "bridge, up", "bridge"),
                 Iface("veth0", "veth, up, 10.0.0.1/24, on br0", "veth")],
        "ns1": [Iface("lo", "loopback, down", "loopback"), Iface("eth0", "veth, up, 10.0.0.2/24", "veth")],
        "alpha": [Iface("lo", "loopback, down", "loopback")],
    },
    addresses=[("10.0.0.1", "host:veth0"), ("10.0.0.2", "ns1:eth0")],
    containers=[("web1", "container, pid 42")],
)



def texts(line: str, context: str = "host") -> list[str]:
    return [c.text for c in complete(line, context, INV)]



def test_namespaces_where_a_namespace_fits():
    assert texts("enter ") == ["host", "ns1", "alpha"]
    assert texts("enter al") == ["alpha"]
    assert "host" not in texts("ns del ")
    assert {"ns1", "alpha", "host"} <= set(texts(""))



def test_interfaces_of_the_right_namespace():
    assert {"br0", "veth0"} <= set(texts("link "))
    assert "eth0" not in texts("link ")
    assert texts("link ns1:") == ["ns1:lo", "ns1:eth0"]
    assert texts("link ns1:e") == ["ns1:eth0"]
    assert "eth0" in texts("ns1 link ")          # a line prefix
    assert "eth0" in texts("link ", "ns1")         # the REPL's context
    assert "ns1:" in texts("addr add ")



def test_descriptions_say_what_a_thing_is():
    by_text = {c.text: c.desc for c in complete("link ", "host", INV)}
    assert by_text["veth0"] == "veth, up, 10.0.0.1/24, on br0"
    by_text = {c.text: c.desc for c in complete("ping ", "host", INV)}
    assert by_text["10.0.0.2"] == "ns1:eth0"



def test_veth_ends_may_be_bare_namespaces():
    assert {"ns1", "alpha", "veth0"} <= set(texts("veth ns1 "))



def test_bridges_addresses_containers_commands():
    assert texts("bridge del ") == ["br0"]
    assert texts("bridge add ") == []                       # a new name
    assert texts("ping 10.0.0.") == ["10.0.0.1", "10.0.0.2"]
    assert "ns1" in texts("ping ")
    assert texts("addr del ns1:eth0 ") == ["10.0.0.2/24"]
    assert texts("help li") == ["link"]
    assert texts("ns add ") == []
    assert "default" in texts("route add ")
    assert texts("ns link ") == ["web1"]                     # a container where a container fits
    assert texts("pipework br0 w") == ["web1"]



def test_files_after_source(tmp_path, monkeypatch):
    (tmp_path / "one.lab").write_text("ns add a\n")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert texts("source ")[:2] == ["one.lab", "sub/"]
    assert texts("source o") == ["one.lab"]
    assert texts("save n") == ["notes.txt"]
    assert texts(f"export sh {tmp_path}/o") == [f"{tmp_path}/one.lab"]




def test_an_open_quote_completes_the_quoted_word(tmp_path, monkeypatch):
    (tmp_path / "my file.lab").write_text("")
    (tmp_path / "my dir").mkdir()
    monkeypatch.chdir(tmp_path)
    assert texts("source 'my fi") == ["file.lab'"]           # the rest of the word, and the closing quote
    assert texts("source 'my") == ["'my dir/", "'my file.lab'"]
    assert texts('source "my f') == ['file.lab"']
    assert texts("source my\\ f") == ["my\\ file.lab"]       # escaped as the word is
    assert texts("link 've") == ["'veth0'"]
    assert texts("'al") == ["'alpha'"]                        # a quoted prefix: a namespace, no command word


def test_completion_reads_the_logical_line_of_the_cursor():
    # what the prompt's completer completes (LabCompleter: tests/test_completion.py)
    def shown(text: str) -> list[str]:
        return texts(current_line(text))

    assert shown("link \\\n  ve") == ["veth0"]                 # a continued line is the same command
    assert shown("ns add a\n") == shown("")                    # a fresh line starts a command
    assert "ns1" in shown("enter \\\n")
    assert shown("ns add a \\\\\nen") == ["enter"]            # an even run of backslashes does not continue
