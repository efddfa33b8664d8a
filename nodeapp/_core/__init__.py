"""The sans-IO core: pure functions and state machines.

Nothing in this package touches the network, the disk, the clock or a random source; those are
passed in by the adapters (SQLite store, libp2p transport, simulator). ``tests/core`` checks that
no module here imports them.
"""
