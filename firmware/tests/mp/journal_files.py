# File surgery for journal tests: simulate power cuts, bit rot and erased flash.
import os


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def truncate(path, n):
    write(path, read(path)[:n])


def add(path, data):
    with open(path, "ab") as f:
        f.write(data)


def flip(path, offset):
    b = bytearray(read(path))
    b[offset] ^= 0x40
    write(path, b)


def fresh(*paths):
    for p in paths:
        try:
            os.remove(p)
        except OSError:
            pass


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1
