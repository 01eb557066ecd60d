"""Measurement: the BS.1770-4 / EBU R128 loudness meter and the analysis report."""
