"""The kernel client and the lab state: rtnetlink, namespaces, isolation, what the lab holds (inventory, and the pure LabState value of the same records), ping.

May import: lang, base.
"""
