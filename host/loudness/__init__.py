"""Loudness measurement: the layer below the stages, the engine and the workflows.

* :mod:`.meter`: the streaming ITU-R BS.1770-4 / EBU R128 loudness meter
  (momentary, short-term, integrated, LRA, sample and true peak);
* :mod:`.targets`: the named loudness targets (spotify, ebu-r128, ...);
* :mod:`.replaygain`: ReplayGain 2.0 / Opus R128 gain tags, track and album.
"""
