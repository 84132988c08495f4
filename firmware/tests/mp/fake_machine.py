# Stand-in for MicroPython's `machine` module so that board/esp32.py runs on the unix port:
# records what the board drives, and lets a test set what the ADC and the UART read.
made = []  # every Pin/ADC/PWM/UART/WDT created, in order


class Pin:
    OUT = 1
    IN = 0

    def __init__(self, n, mode=None, value=None):
        self.n = n
        self.v = value
        made.append(self)

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class ADC:
    ATTN_11DB = 3
    uv = [0]  # readings returned in turn (class-wide, set by the test)

    def __init__(self, pin):
        self.pin = pin
        self.i = 0
        made.append(self)

    def atten(self, a):
        self.a = a

    def read_uv(self):
        self.i += 1
        return ADC.uv[self.i % len(ADC.uv)]


class PWM:
    def __init__(self, pin, freq=0, duty_u16=0):
        self.pin = pin
        self.freq = freq
        self.duty = duty_u16
        made.append(self)

    def duty_u16(self, d):
        self.duty = d


class UART:
    rx = b''  # bytes the reader will deliver (set by the test)

    def __init__(self, n, baudrate=9600, rx=None, tx=None):
        self.n = n
        self.pins = (rx, tx)
        made.append(self)

    def any(self):
        return len(UART.rx)

    def read(self):
        b, UART.rx = UART.rx, b''
        return b


class WDT:
    def __init__(self, timeout=0):
        self.timeout = timeout
        self.feeds = 0
        made.append(self)

    def feed(self):
        self.feeds += 1


class RTC:
    set_to = None

    def datetime(self, t=None):
        RTC.set_to = t


resets = []


def reset():
    resets.append('hard')


def soft_reset():
    resets.append('soft')
