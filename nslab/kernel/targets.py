"""The address `ping NS` and `expect reach NS` aim at, written once.

The rule is data that two readers share: the handler applies it to the kernel's dump, and
`export sh` writes it into the script as a bash function, so the script checks the same
address that nslab's own `expect` pinged.  The rule: the first IPv4 address, in the kernel's
order (links as dumped, each link's addresses as dumped), of any interface but the loopback,
whatever its scope.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

LOOPBACK_INDEX = 1  # the kernel gives every namespace's lo this index, and only lo
FAMILY = 4


def first_address(addrs: Iterable[tuple[int, str]]) -> str | None:
    """The rule over (interface index, CIDR) pairs in the kernel's order; None when none fits."""
    for index, cidr in addrs:
        if index != LOOPBACK_INDEX and ipaddress.ip_interface(cidr).version == FAMILY:
            return cidr.split("/")[0]
    return None


# `ip -o addr show` prints one address a line, "INDEX: NAME inet CIDR ...", in the same order;
# awk reads to the end (no early exit: ip would die of SIGPIPE, and pipefail would see it)
BASH = (
    f"# first_ipv4 NS: the namespace's first IPv4 address not on lo (what `expect reach NS` pings).\n"
    f"first_ipv4() {{ ip ${{1:+-n \"$1\"}} -{FAMILY} -o addr show"
    f" | awk '$1 + 0 != {LOOPBACK_INDEX} && !found++ {{ sub(\"/.*\", \"\", $4); print $4 }}'; }}\n"
)
