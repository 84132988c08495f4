# Journal maintenance for journal.Journal (which explains the file format): recover() (Journal.open)
# scans the file and drops a torn or corrupt tail; rewrite() copies the live records to
# journal.tmp and renames it over the journal (compaction, removal without room for an ack,
# eviction of droppable records by make_room()). Journal loads this module only while one of
# these runs (at boot and when the journal fills) and drops it after.
import struct
from micropython import const

import fsutil
from journal import JournalFull, crc32

_MAGIC = const(0xA5F7)  # the same constants as in journal.py
_HDR = const(10)
_OVH = const(14)
_K_HEAD = const(35)
_K_ACK = const(45)
_DROP = const(1)
_MDROP = const(0x80)
_FMT = const("<HBBHI")

# CRC-32 (poly 0xEDB88320 reflected) one nibble at a time: 16 words of table, no big tables
_NIB = const((
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
    0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
))


def crc32_soft(buf, crc=0):
    crc ^= 0xFFFFFFFF
    t = _NIB
    for b in buf:
        crc = t[(crc ^ b) & 15] ^ (crc >> 4)
        crc = t[(crc ^ (b >> 4)) & 15] ^ (crc >> 4)
    return crc ^ 0xFFFFFFFF


def recover(j):
    # Journal.open
    fsutil.recover(j.path, j.tmp)
    j.n = 0
    j._live = 0
    j._keep = 0
    j.next = 1
    j.dropped = 0
    size = fsutil.size(j.path)
    good = _scan(j, size) if size > 0 else 0
    if good == 0 or good < size:
        j.dropped = size - good if size > 0 else 0
        rewrite(j, 0, 0)  # raises, leaving the journal closed, when flash fails
    else:
        j.end = good
    j.state = True
    return j.n


def _scan(j, size):
    hb = j.head
    buf = j.buf
    f = open(j.path, "rb")
    try:
        off = 0
        last = 0  # seq of the last data record: seqs must rise
        while off + _OVH <= size:
            if f.readinto(hb) != _HDR:
                break
            magic, k, flags, n, seq = struct.unpack_from(_FMT, hb)
            end = off + _OVH + n
            if magic != _MAGIC or end > size or (off == 0) != (k == _K_HEAD):
                break
            crc = crc32(hb)
            left = n
            while left > 0:  # checksum the data, a scratch buffer at a time
                part = buf[:left if left < 128 else 128]
                if f.readinto(part) != len(part):
                    break
                crc = crc32(part, crc)
                left -= len(part)
            if left or f.readinto(j.digest) != 4:
                break
            if struct.unpack_from("<I", j.digest)[0] != crc:
                break
            if k == _K_HEAD:
                j.next = seq if seq > 0 else 1
            elif k == _K_ACK:
                i = j.index(seq)
                if i >= 0:
                    j.pop(i)
            elif k < 0x21 or k > 0x7E or seq <= last or flags > _DROP:
                break
            else:
                last = seq
                if seq >= j.next:
                    j.next = seq + 1
                j.put(seq, off, n, k | (_MDROP if flags & _DROP else 0))
            off = end
        return off
    finally:
        f.close()


def make_room(j, need):
    # compact; evict the oldest droppable records when compaction alone is not enough
    over = _OVH + j._live + need - j.capacity
    cut = 0  # droppable records with seq <= cut are left out
    evict = 0
    if over > 0:
        for i in range(j.n):
            if j.flags[i] & _MDROP:
                over -= _OVH + j.length[i]
                cut = j.keys[i]
                evict += 1
                if over <= 0:
                    break
        if over > 0:
            raise JournalFull()
    rewrite(j, cut, 0)
    j.evicted += evict


def rewrite(j, cut, gone):
    # copy the header and the live records (minus evicted `cut` and removed `gone`) to tmp,
    # then rename over the journal; the index changes only after the rename succeeded
    hb = j.head
    tb = j.digest
    mv = j.buf
    struct.pack_into(_FMT, hb, 0, _MAGIC, _K_HEAD, 0, 0, j.next)
    struct.pack_into("<I", tb, 0, crc32(hb))
    src = open(j.path, "rb") if j.n else None
    dst = open(j.tmp, "wb")
    try:
        dst.write(hb)
        dst.write(tb)
        for i in range(j.n):
            q = j.keys[i]
            if q == gone or (q <= cut and j.flags[i] & _MDROP):  # removed, or evicted
                continue
            src.seek(j.pos[i])
            left = _OVH + j.length[i]
            while left > 0:
                part = mv[: left if left < 128 else 128]
                if src.readinto(part) != len(part):
                    raise OSError(5)  # EIO: the journal shrank under us
                dst.write(part)
                left -= len(part)
        dst.flush()
    except Exception:
        dst.close()
        fsutil.remove(j.tmp)
        raise
    finally:
        if src is not None:
            src.close()
    dst.close()
    fsutil.sync()
    fsutil.rename(j.tmp, j.path)
    # the new file holds exactly the kept records, in order, right after the header
    off = _OVH
    w = 0  # slot the next kept record moves to
    live = 0
    keep = 0
    for i in range(j.n):
        q = j.keys[i]
        if q == gone or (q <= cut and j.flags[i] & _MDROP):
            continue
        n = j.length[i]
        meta = j.flags[i]
        j.keys[w] = j.keys[i]
        j.pos[w] = off
        j.length[w] = n
        j.flags[w] = meta
        off += _OVH + n
        live += _OVH + n
        if not meta & _MDROP:
            keep += _OVH + n
        w += 1
    j.n = w
    j._live = live
    j._keep = keep
    j.end = off
