# The sim board's RS-485 bus: a UART-like object (write, any, read, flush) over a second TCP
# connection to the plant, which carries raw Modbus RTU bytes after a one-line hello
# (docs/interfaces.md §1.3). Loaded only when station.json fits a meter. A dropped connection is
# silence on the bus (the master times out and counts it); the next write connects again.
import json
import socket

_HELLO_TIMEOUT_S = 2


class SimUart:
    def __init__(self, host, port, station_id):
        self.host = host
        self.port = port
        self.id = station_id
        self.s = None  # the socket once the plant accepted the hello; None = bus down
        self.pending = bytearray()  # bytes received and not read yet

    def _open(self):
        s = socket.socket()
        try:
            s.settimeout(_HELLO_TIMEOUT_S)
            s.connect(socket.getaddrinfo(self.host, self.port)[0][-1])
            s.send(('{"op":"hello","id":%s,"bus":"rs485"}\n' % json.dumps(self.id)).encode())
            line = b''
            while not line.endswith(b'\n'):
                c = s.recv(16)
                if not c:
                    raise OSError('plant closed the bus')
                line += c
            s.setblocking(False)
        except Exception:
            s.close()
            raise
        self.s = s

    def _drop(self):
        try:
            self.s.close()
        except Exception:
            pass
        self.s = None

    def write(self, buf):
        if self.s is None:
            try:
                self._open()
            except Exception:
                return 0
        try:
            return self.s.send(bytes(buf))
        except OSError:
            self._drop()
            return 0

    def flush(self):
        pass

    def any(self):
        s = self.s
        if s is not None:
            try:
                data = s.recv(256)
            except OSError:  # EAGAIN: nothing arrived
                data = None
            if data is not None:
                if data:
                    self.pending.extend(data)
                else:
                    self._drop()
        return len(self.pending)

    def read(self, n=-1):
        p = self.pending
        if n < 0 or n > len(p):
            n = len(p)
        out = bytes(p[:n])
        self.pending = p[n:]
        return out
