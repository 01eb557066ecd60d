"""Vectorised DSP building blocks shared by stages and the engine."""
