"""Control surfaces: the room for what moves parameters from outside (MIDI, OSC, web, terminal keys).

A surface sets registry values (and transport commands) and listens to
changes for its feedback; it never touches the DSP.
"""
