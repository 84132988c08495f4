# ISO 8601 times from the backend (Heartbeat and BootNotification currentTime, idTagInfo
# expiryDate) to Unix seconds: one parser for ocpp16 and auth, loaded for each use (lazy.py).
# (Writing them, ocpp16_msg.iso, is done on every message and stays loaded.)


def parse_iso(s):
    # 'YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]' -> Unix seconds, None when it does not parse
    try:
        if len(s) < 19 or s[4] != '-' or s[7] != '-' or s[10] not in 'Tt ' or s[13] != ':':
            return None
        y, m, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        if y < 1970 or not (1 <= m <= 12 and 1 <= d <= 31):
            return None
        t = int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])
        i = 19
        if s[i:i + 1] == '.':
            i += 1
            while i < len(s) and s[i].isdigit():
                i += 1
        z = s[i:i + 1]
        if z == '+' or z == '-':
            off = int(s[i + 1:i + 3]) * 3600 + int(s[i + 4:i + 6]) * 60
            t -= off if z == '+' else -off
        elif s[i:] not in ('', 'Z', 'z'):
            return None
        y -= m <= 2
        era = y // 400
        yoe = y - era * 400
        doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
        return (era * 146097 + doe - 719468) * 86400 + t
    except (ValueError, IndexError):
        return None
