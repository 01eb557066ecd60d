"""The OSC surface: the parameter registry as an OSC address space, tablet layouts, zeroconf."""
