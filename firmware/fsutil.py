# Small file helpers shared by config, auth and journal: atomic replace and boot-time recovery.
#
# Atomic replace = write `<path>.tmp`, flush, close, sync, rename over `<path>`. On littlefs and
# POSIX the rename is atomic; on FAT MicroPython removes the old file first, so a power cut can
# leave only the complete tmp file behind: `recover` promotes it at the next boot.
import os


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def size(path):
    # bytes in the file, -1 when it does not exist
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def sync():
    # MicroPython's os has no fsync; flush() commits a file, os.sync() (where present) the volume
    if hasattr(os, "sync"):
        os.sync()


def rename(src, dst):
    os.rename(src, dst)


def open_tmp(path):
    # start an atomic replace of `path`: write to the returned file, then commit(f, path)
    return open(path + ".tmp", "w")


def commit(f, path, tmp=None):
    # finish an atomic replace begun with open_tmp (or any file written to `tmp`)
    try:
        f.flush()
    finally:
        f.close()
    sync()
    rename(tmp or path + ".tmp", path)


def abort(f, path, tmp=None):
    # give up an atomic replace: the old file stays as it was
    try:
        f.close()
    finally:
        remove(tmp or path + ".tmp")


def write_atomic(path, text):
    f = open_tmp(path)
    try:
        f.write(text)
    except Exception:
        abort(f, path)
        raise
    commit(f, path)


def recover(path, tmp=None, check=None):
    # At boot, before reading `path`. A tmp file next to an existing `path` is an interrupted
    # replace: the old file is intact, drop the tmp. A tmp without `path` is a replace that
    # lost power inside a non-atomic rename (FAT): keep it when check(tmp) accepts it.
    # Returns True when a tmp file was promoted.
    tmp = tmp or path + ".tmp"
    if not exists(tmp):
        return False
    if exists(path) or (check is not None and not check(tmp)):
        remove(tmp)
        return False
    rename(tmp, path)
    return True
