from conftest import ip_j, iputils_ping


def test_two_namespaces_ping(lab):
    for line in ["ns add ns1 ns2", "veth ns1 ns2", "ns1 link eth0 up", "ns2 link eth0 up",
                 "ns1 addr add eth0 10.0.0.1/24", "ns2 addr add eth0 10.0.0.2/24"]:
        out = lab.run(line)
        assert out.ok, out.error
    addrs = ip_j(lab, "ns1", "-4", "addr", "show", "dev", "eth0")
    assert addrs[0]["addr_info"][0]["local"] == "10.0.0.1"
    assert iputils_ping(lab, "ns1", "10.0.0.2")
    assert lab.run("ns1 expect reach 10.0.0.2").ok
