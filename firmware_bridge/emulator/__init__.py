"""Emulated wearables: a BLE peripheral on bumble and a serial device on a pty, fed by the simulator or
a real recording, with seeded fault injection and exact accounting.

Modules: :mod:`.sources` (what is streamed), :mod:`.faults` (drops / corruption / disconnects and the
counters), :mod:`.streaming` (the paced frame pump), :mod:`.ble` (bumble GATT server), :mod:`.serial`
(pty device), :mod:`.hci` (virtual controllers served as HCI over TCP, for a central in another
process). The command line is ``anyppg emulate`` (``docs/emulators.md``).
"""
