# Stand-in for MyPLC's PLC package: only PLC.Shell, which the stress test
# imports. See ../README.md.
