# One line per event on stdout: "<ticks_ms> <LEVEL> <msg>" (the test rig and the demo parse it).
from time import ticks_ms

INFO = "INFO"
WARN = "WARN"
ERROR = "ERROR"


def log(level, text):
    print(ticks_ms(), level, text)
