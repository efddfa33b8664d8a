"""A small notes zome: the reference for how zomes are written, and the tests' workhorse."""
