"""anyppg.firmware_bridge: the device side -- open wire protocol, vendor codecs, device emulators."""
