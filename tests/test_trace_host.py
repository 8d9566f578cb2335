"""`trace` in host mode (DESIGN section 8): read-only, guarded as `ping` is, and watching only the lab's
own interfaces; judged on test_safety_egress's sandbox host, by the outside end's own counter."""

from __future__ import annotations

import json
import time

from test_safety_egress import Uplink, lab_name, reset, uplink, wired  # noqa: F401 - the fixture

REFUSAL = "10.20.0.1 is not in this lab: from host it would leave through eth0 (not made by this lab)"


def test_a_trace_out_of_the_lab_is_refused_and_sends_nothing(uplink: Uplink) -> None:  # noqa: F811
    lab = lab_name()
    before = uplink.received()
    try:
        r = uplink.host(lab, wired(lab) + "trace 10.20.0.1\n")
        out = r.stdout + r.stderr
        assert r.returncode == 1 and REFUSAL in out and "Traceback" not in out, out
        r = uplink.host(lab, "expect path 10.20.0.1 via eth0\n")
        assert r.returncode == 1 and REFUSAL in r.stdout + r.stderr, r.stdout + r.stderr
        time.sleep(0.3)
        assert uplink.received() == before  # not one packet reached outside
    finally:
        reset(uplink, lab)


def test_a_trace_inside_the_lab_watches_only_the_labs_interfaces(uplink: Uplink) -> None:  # noqa: F811
    lab = lab_name()
    before = uplink.received()
    paths = uplink.routing()["paths"]  # the host's own destinations, looked up (never sent to)
    try:
        r = uplink.nslab("--host", "--lab", lab, "--no-color", "--json", "run", "-", input=wired(lab) + "trace 10.77.0.2\n")
        assert r.returncode == 0, r.stdout + r.stderr
        doc = json.loads(r.stdout)["trace"]
        assert doc["reached"] is True and doc["path"][0] == f"host:{lab}h"
        assert "host:eth0" not in doc["watched"] and f"{lab}n:eth0" in doc["watched"]
        time.sleep(0.3)
        assert uplink.received() == before and uplink.routing()["paths"] == paths  # nothing of the host's moved
    finally:
        reset(uplink, lab)
