"""The workflows that drive whole files and sessions (measurement is in :mod:`host.loudness`).

* :mod:`.report`: ``mixhost analyze`` (loudness, dynamics, stereo, spectrum;
  JSON and HTML);
* :mod:`.mastering`: ``mixhost master`` (chain, reference match, gain and
  true-peak limiting to a target);
* :mod:`.matching`: reference matching of the mid/side spectral balance;
* :mod:`.album`: ``mixhost album`` (album normalisation, tonal consistency,
  album file, CUE sheet, tags);
* :mod:`.comparison`: ``mixhost compare`` (loudness-matched A/B);
* :mod:`.feedback`: ``mixhost feedback`` (the report to the mix engineer);
* :mod:`.signals`: deterministic synthetic programme for tests and benchmarks.
"""
