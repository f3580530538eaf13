"""Segment 1B — spatial realisation of outlets (spec/engine/1B.md)."""
