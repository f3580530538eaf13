"""Segment 2A — civil time: site time zones, the tz timetable, DST legality (spec/engine/2A.md)."""
