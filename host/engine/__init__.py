"""The block engine: one graph of tracks, sends, buses and master.

Offline render (:mod:`host.engine.render`) and the live engine drive the
same :class:`~host.engine.graph.Graph`, so what is heard live is what renders.
"""
