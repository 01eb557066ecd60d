"""The MIDI surface: ports (python-rtmidi), messages, encoders, mappings, learn, Mackie Control."""
