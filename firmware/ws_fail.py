# The texts of ws_codec's reasons for refusing a frame (ws_codec._TOP_BIT..., in that order),
# loaded only when one is needed (lazy.py).
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


def reason(why, args):
    return _TEXTS[why] % args if args else _TEXTS[why]
