# Checks the MicroPython test harness itself runs on the target interpreter.
import sys


def test_runs_in_micropython():
    assert sys.implementation.name == "micropython"
