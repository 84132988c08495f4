"""The files in mp/ are MicroPython programs, run by test_mp_suites.py, not by CPython's pytest."""

collect_ignore_glob = ["mp/*"]
