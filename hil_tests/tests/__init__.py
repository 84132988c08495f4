"""Helpers for the rig's own tests (stand-ins for the firmware while testing the rig alone)."""
