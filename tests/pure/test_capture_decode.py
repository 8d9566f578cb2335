"""Frames off the wire may be anything: decoding one never raises (a capture's thread would die),
and every prefix of a real frame, and random bytes, come out as a line."""

from __future__ import annotations

import random

from nslab.engine import packets

ECHO = bytes.fromhex("0242ac1100020242000000010800450000541c4640004001" "0000" "0a000001" "0a000002"
                     "0800f7ff00010001") + bytes(56)
ARP = bytes.fromhex("ffffffffffff0200000000010806" "0001080006040001" "020000000001" "0a000001" "000000000000" "0a000002")


def test_a_real_frame_reads_as_tcpdump_writes_it():
    dpkt = packets.load()
    assert packets.decode(ECHO, dpkt).summary == "10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 1, length 64"
    arp = packets.decode(ARP, dpkt)
    assert (arp.summary, arp.protocol, arp.dst) == ("Request who-has 10.0.0.2 tell 10.0.0.1, length 28", "ARP",
                                                    "ff:ff:ff:ff:ff:ff")


def test_no_frame_makes_decoding_raise():
    dpkt = packets.load()
    rnd = random.Random(13)
    frames = [ECHO[:n] for n in range(len(ECHO))] + [ARP[:n] for n in range(len(ARP))]
    frames += [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 120))) for _ in range(2000)]
    frames += [ECHO[:12] + b"\x81\x00" + bytes(rnd.getrandbits(8) for _ in range(40)) for _ in range(200)]
    for frame in frames:
        seen = packets.decode(frame, dpkt)
        assert seen.length == len(frame) and seen.summary
        assert isinstance(packets.matches(("or", ("proto", "udp"), ("not", ("port", 53))), seen), bool)
