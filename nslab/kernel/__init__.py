"""The kernel client and the lab state: rtnetlink, namespaces, isolation, what the lab holds (inventory, and the pure LabState value with its one reader), ping.

May import: lang, base.
"""
