"""Docker and Open vSwitch: the services outside the kernel that nslab drives.

May import: kernel, lang, base; docker and ovs do not import each other.
"""
