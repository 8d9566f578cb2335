"""The engine: the session (it runs the handlers it is given), the handlers' context and their view of the lab (kernel and model backends), transactions, host safety (host log, lock, guard, egress, clean), undo and reset, replay, export, the dry run.

May import: ops, services, kernel, lang, base.
"""
