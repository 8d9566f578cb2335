"""Ops: the op registry (each kind declared once: fields, kernel apply, model effect, iproute2 lines, words, flags), the kernel and container/OVS implementations, the model effects on the lab state, snapshots, identity, and the journal that records ops.

May import: services, kernel, lang, base.
"""
