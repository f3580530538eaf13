"""Segment 3A: zone allocation of cross-zone merchants (spec/engine/3A.md)."""
