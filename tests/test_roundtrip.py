"""Round trips judged by the oracle (`ip -j` dumps): a lab, its `save`d file and its
`export sh` script build the same namespaces, links, addresses and routes, and the
teardown script leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from labworlds import OWN, bundled, lab_world, script_world

from nslab.labfile import parse_text
from nslab.session import Lab

CASES = [(p.stem, p.read_text()) for p in bundled()] + list(OWN.items())
ENDS_EMPTY = {"01-netns-basics", "02-veth-host"}  # they end with `ns del`: their round trips are of an emptied lab


def build(text: str, path) -> Lab:
    path.write_text(text)
    lab = Lab()
    try:
        for out in lab.run_file(str(path)):
            assert out.ok, f"{out.step.text if out.step else ''}: {out.error}"
    except BaseException:
        lab.close()  # the namespaces are the test process's: leave none for the next test
        raise
    return lab


def run_ok(lab: Lab, line: str) -> None:
    out = lab.run(line)
    assert out.ok, out.error


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_lab_saved_and_exported_build_the_same(name, text, tmp_path):
    lab = build(text, tmp_path / f"{name}.lab")
    try:
        run_ok(lab, f"save {tmp_path}/saved.lab")
        run_ok(lab, f"export sh {tmp_path}/build.sh")
        run_ok(lab, f"export sh --teardown {tmp_path}/teardown.sh")
        want = lab_world(lab)
    finally:
        lab.close()
    # the saved .lab, replayed in a fresh lab
    again = build((tmp_path / "saved.lab").read_text(), tmp_path / "again.lab")
    try:
        assert lab_world(again) == want
    finally:
        again.close()
    # the bash script, run by bash in a fresh namespace with its own /run/netns
    got, _ = script_world(str(tmp_path / "build.sh"))
    assert got == want
    # build then teardown leaves what an untouched namespace has
    empty, _ = script_world()
    gone, _ = script_world(str(tmp_path / "build.sh"), str(tmp_path / "teardown.sh"))
    assert gone == empty


def test_labs_cover_real_changes():
    # the comparisons above are not empty: every case, as the oracle sees it built, differs from a
    # fresh namespace (the dumps are compared, not the lab's source text)
    empty, _ = script_world()
    with tempfile.TemporaryDirectory() as d:
        for name, text in CASES:
            lab = build(text, Path(d) / f"{name}.lab")
            try:
                world = lab_world(lab)
            finally:
                lab.close()
            if name in ENDS_EMPTY:
                assert world == empty, name
            else:
                assert world != empty, name


def narration(text: str) -> list[str]:
    """The section titles and narration of a lab, as the parser reads them, as comment lines."""
    out, section = [], None
    for cmd in parse_text(text, "lab").commands:
        if cmd.section != section:
            section = cmd.section
            out.append(f"## {section}")
        out += [f"# {line}" for line in cmd.narration]
    return out


def expects_in(text: str) -> list[str]:
    return [c.text for c in parse_text(text, "lab").commands if c.spec.name == "expect"]


def in_order(want: list[str], lines: list[str]) -> bool:
    it = iter(lines)
    return all(any(line == w for line in it) for w in want)


def test_export_keeps_narration_and_checks_expects(tmp_path):
    lab = build(OWN["router"], tmp_path / "router.lab")
    try:
        run_ok(lab, "h1 expect reach 10.2.0.2")  # an expect typed after the file: it is checked too
        run_ok(lab, f"export sh {tmp_path}/build.sh")
    finally:
        lab.close()
    lines = (tmp_path / "build.sh").read_text().splitlines()
    want = narration(OWN["router"])
    assert len(want) == 3 and in_order(want, lines), (want, lines)
    # one check per expect the lab ran, in the order it ran them, named by the line
    checks = [line.split("'")[1] for line in lines if line.startswith("check ")]
    assert checks == [*expects_in(OWN["router"]), "h1 expect reach 10.2.0.2"]
    # and bash runs them: the script passes on the world it builds, and stops at the one that fails
    script_world(str(tmp_path / "build.sh"))
    broken = tmp_path / "broken.sh"
    # without h2's route back and without the first check, the first check bash reaches is h2's
    text = "\n".join(line for line in lines if not line.startswith("check 'h1 expect reach"))
    broken.write_text(text.replace("ip -n h2 route add 10.1.0.0/24 via 10.2.0.1", "true") + "\n")
    with pytest.raises(AssertionError, match="check failed: h2 expect reach h1"):
        script_world(str(broken))


def test_export_check_fails_when_the_world_differs(tmp_path):
    # the expect checks in a script are real: break the route and the script stops
    lab = build(OWN["router"], tmp_path / "router.lab")
    try:
        run_ok(lab, f"export sh {tmp_path}/build.sh")
    finally:
        lab.close()
    text = (tmp_path / "build.sh").read_text().replace("ip -n h1 route add default via 10.1.0.1", "true")
    (tmp_path / "broken.sh").write_text(text)
    with pytest.raises(AssertionError, match="check failed: h1 expect reach 10.2.0.2"):
        script_world(str(tmp_path / "broken.sh"))
