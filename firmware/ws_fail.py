# The texts of ws_codec's reasons for refusing a frame (ws_codec._TOP_BIT..., in that order) and
# ws_codec's constants by name (ws_codec.TEXT...), loaded only when one is needed (lazy.py).
from micropython import const

_TEXTS = const((
    "frame length has the top bit set",
    "reserved bits set (no extension was negotiated)",
    "masked frame from server",
    "unknown opcode %d",
    "fragmented control frame",
    "control frame longer than 125 bytes",
    "continuation frame without a message in progress",
    "new message while a fragmented one is in progress",
    "message of more than %d bytes > max %d",
    "frame of %d bytes > max %d",
    "close frame with a 1-byte payload",
    "invalid close code %d",
    "close reason is not valid UTF-8",
    "text message is not valid UTF-8",
))


# ws_codec's opcodes, event kinds and states by name (the same numbers as its _OP_*, _TEXT.., _OPEN..)
_NAMES = const("OP_CONT OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG TEXT BINARY CLOSE PING PONG ERROR "
               "OPEN CLOSING CLOSED")
_VALUES = const((0, 1, 2, 8, 9, 10, 1, 2, 8, 9, 10, 256, 0, 1, 2))


def constant(name):
    names = _NAMES.split()
    if name not in names:
        raise AttributeError(name)
    return _VALUES[names.index(name)]


def reason(why, args):
    return _TEXTS[why] % args if args else _TEXTS[why]
