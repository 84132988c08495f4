# The control pilot's PWM duty cycle for a current limit (IEC 61851-1:2017 Annex A), pure.
# Used by board/esp32.py only (the sim board tells the plant the limit in W instead).
#
# How an EV reads the duty cycle the EVSE sends at 1 kHz (IEC 61851-1 Annex A, as tabled in the
# Fluke FEV300 manual, "Calculations of max. charging current on basis of duty cycle", p. 11):
#   8 % <= d < 10 %   6 A
#   10 % <= d <= 85 %  d x 0.6 A                (6 A at 10 %, 51 A at 85 %)
#   85 % < d <= 96 %   (d - 64) x 2.5 A         (52.5 A just above 85 %, 80 A at 96 %)
#   96 % < d <= 97 %   80 A
#   100 %              no PWM, a steady +12 V high level: states A1/B1/C1/D1, "EVSE not ready",
#                      no charging allowed (the EV stops drawing current)
#   5 %                digital communication (ISO 15118) required; < 3 % and 7..8 %: no charging
# So a limit below 6 A cannot be offered: the board shows a steady +12 V (100 %), the standard's
# pause, never 5 % (which asks for digital communication) nor a short duty (an error).
# Rounding is always down: the EV never reads more current than allowed. Between 51 A and 52.5 A
# the pilot can only say 51 A; above 80 A it says 80 A.
#
# Units: current in tenths of an ampere (a10) per phase, duty in per mille of the period (pm).

NO_OFFER = 1000  # 100 %: steady +12 V, no current offered


def amps_x10(power_w, phases, volts):
    # the per-phase current (tenths of A, rounded down) of a power limit in W over `phases` phases
    # at `volts` phase voltage; a negative limit (discharge) is no charging current: 0
    if power_w <= 0 or phases <= 0 or volts <= 0:
        return 0
    return power_w * 10 // (phases * volts)


def duty_pm(a10):
    # the duty (per mille) offering at most a10 / 10 A; NO_OFFER below 6 A
    if a10 < 60:
        return NO_OFFER
    if a10 <= 510:
        return a10 * 10 // 6  # d = A / 0.6
    pm = a10 * 2 // 5 + 640  # d = A / 2.5 + 64
    if pm < 850:
        return 850  # 51..52.5 A: only 51 A (85 %) can be said
    return pm if pm < 960 else 960  # 80 A and above: 96 %


def offered_x10(pm):
    # the current (tenths of A) an EV reads from the duty `pm`; 0 when it is no offer
    if pm < 80 or pm > 970:
        return 0
    if pm < 100:
        return 60
    if pm <= 850:
        return pm * 6 // 10
    if pm <= 960:
        return (pm - 640) * 25 // 10
    return 800


def duty_u16(pm):
    # per mille -> machine.PWM.duty_u16 (rounded down, 1000 -> 65535: steady high)
    return pm * 65535 // 1000
