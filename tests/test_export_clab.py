"""`export clab` judged by containerlab's own schema (python jsonschema, a file nslab did not
write), for every bundled lab and exercise solution; and the round trip: the exported topology,
imported again, builds the same lab as the oracle's `ip -j` dumps see it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ip_j
from dockerkit import docker, docker_image  # noqa: F401 - the session's image fixture
from labworlds import LABS, OWN, bundled, lab_world
from networkdkit import KINDS_LAB, ODD_NAMES

from nslab.lab import Lab

SCHEMA = Path(__file__).parent / "data" / "containerlab" / "clab.schema.json"  # srl-labs/containerlab, BSD-3
SOLUTIONS = sorted((LABS / "exercises").glob("*.solution.lab"))
CASES = [(p.stem, p.read_text()) for p in [*bundled(), *SOLUTIONS]] + [*OWN.items(), ("link-kinds", KINDS_LAB), ("odd-names", ODD_NAMES)]


def validator() -> jsonschema.protocols.Validator:
    # Python's `re` has no \p{...} classes (the schema's README): \w is the same letters and digits
    text = SCHEMA.read_text().replace(r"[\\p{N}\\p{L}]", r"[\\w]")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def build(lab: Lab, text: str, path: Path) -> None:
    path.write_text(text)
    for out in lab.run_file(str(path)):
        assert out.ok, f"{out.step.text if out.step else ''}: {out.error}"


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_export_clab_validates_against_containerlabs_schema(name, text, lab, tmp_path):
    build(lab, text, tmp_path / f"{name}.lab")
    out = lab.run(f"export clab {tmp_path}/{name}.clab.yml")
    assert out.ok, out.error
    topology = yaml.safe_load((tmp_path / f"{name}.clab.yml").read_text())
    errors = sorted(validator().iter_errors(topology), key=str)
    assert not errors, [e.message for e in errors]
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-._]*", topology["name"])


def test_the_schema_refuses_what_containerlab_would():  # the oracle can fail
    v = validator()
    assert list(v.iter_errors({"name": "x", "topology": {"nodes": {"a": {"kind": "no-such-kind"}}}}))
    assert not list(v.iter_errors({"name": "x", "topology": {"nodes": {"a": {"kind": "linux"}}}}))


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_export_clab_then_import_builds_the_same_lab(name, text, tmp_path):
    with Lab() as first:
        build(first, text, tmp_path / f"{name}.lab")
        assert first.run(f"export clab {tmp_path}/t.clab.yml").ok
        want = lab_world(first)
    with Lab() as second:
        for out in second.run_file(str(tmp_path / "t.clab.yml")):
            assert out.ok, f"{out.step.text if out.step else ''}: {out.error}"
        assert lab_world(second) == want


@pytest.mark.parametrize("name", ["06-docker-netns", "07-container-on-lan", "08-pipework"])
def test_export_clab_of_the_container_labs_validates(name, docker_image, lab, tmp_path):  # noqa: F811
    try:
        build(lab, (LABS / f"{name}.lab").read_text(), tmp_path / f"{name}.lab")
        out = lab.run(f"export clab {tmp_path}/{name}.clab.yml")
        assert out.ok, out.error
        topology = yaml.safe_load((tmp_path / f"{name}.clab.yml").read_text())
        assert not [e.message for e in validator().iter_errors(topology)]
    finally:
        docker("rm", "-f", "nslab-06", "nslab-07", "nslab-web", "nslab-db", "nslab-cache", check=False)


def test_the_link_kinds_come_back_as_nslab_steps_not_programs(tmp_path):
    with Lab() as first:
        build(first, KINDS_LAB, tmp_path / "kinds.lab")
        assert first.run(f"export clab {tmp_path}/k.clab.yml").ok
    with Lab() as second:
        for out in second.run_file(str(tmp_path / "k.clab.yml")):
            assert out.ok, out.error
        texts = [s.text for s in second.journal.steps]
        assert "a vxlan vx0 id 42 remote 10.9.0.2 dev eth0 port 4789" in texts
        assert "b macvlan mv0 eth0 mode bridge" in texts
        assert not [s.program for s in second.journal.steps if s.program]  # every line undoable
        # the MAC the lab set comes back (the oracle: iproute2, by nsenter); the kernel's random ones are not config
        assert ip_j(second, "a", "link", "show", "eth1")[0]["address"] == "02:00:00:00:07:01"
