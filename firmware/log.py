# One line per event on stdout: "<ticks_ms> <LEVEL> <msg>" (the test rig and the demo parse it).
from time import ticks_ms

DEBUG = "DEBUG"
INFO = "INFO"
WARN = "WARN"
ERROR = "ERROR"


def log(level, msg):
    print(ticks_ms(), level, msg)
