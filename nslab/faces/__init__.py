"""The faces: the `nslab` command, the REPL, completion, highlighting, the renderer, attach.

May import: every layer below; nothing imports a face.
"""
