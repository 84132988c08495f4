# The board a cold station's wiring (app_cold) uses, as a stand-in: raw ADC counts per channel,
# a virtual millisecond clock, the contactor's state; heaters ignored.
from array import array


class Board:
    linked = True

    def __init__(self, counts):
        self.adc = array('H', counts)
        self.t_ms = 0
        self.closed = False
        self.closes = 0

    def contactor(self):
        return self.closed

    def adc_counts(self):
        return self.adc

    def set_heater(self, ch, duty_pm):
        pass

    def thermal_ms(self):
        return self.t_ms

    def tod_s(self):
        return -1
