"""What every layer shares: errors a user sees, the result records handlers return, and the environment object (streams, terminal, directories, sockets, ask) the faces pass down.

May import: nothing in nslab.
"""
