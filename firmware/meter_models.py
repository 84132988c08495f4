# Register maps of the supported energy meters, as compact tables (facts: shared/data/meters).
#
# A model is a tuple (name, fc, phases, rows). `rows` is bytes, 4 per quantity column Q_*:
#   reg_hi, reg_lo   0-based protocol address of the first register
#   kind             T_* data type | SWAP (low word first); T_NONE = the meter lacks it
#   scale            index into SCALE_NUM / SCALE_DEN: SI value = raw * num / den
# SI units: W, Wh, A, V, Hz. Energy is converted to Wh, power to W, whatever the register's unit.
#
# MODELS[i] is what a device's configuration stores: indices are never reused or reordered, a new
# meter (or a variant of one) is appended. New quantity columns are appended too (Q_* after Q_F).
from micropython import const

# quantity columns
Q_E_IMP = const(0)  # imported active energy (meter's forward direction)
Q_E_EXP = const(1)  # exported active energy
Q_P = const(2)      # total active power, meter's sign (positive = forward)
Q_I1 = const(3)
Q_I2 = const(4)
Q_I3 = const(5)
Q_U1 = const(6)     # phase-to-neutral voltages
Q_U2 = const(7)
Q_U3 = const(8)
Q_F = const(9)
NQ = const(10)

# data types (low 3 bits of kind)
T_NONE = const(0)
T_F32 = const(1)  # IEEE-754 float32, two registers
T_U32 = const(2)
T_I32 = const(3)
T_U16 = const(4)
T_I16 = const(5)
SWAP = const(8)   # two-register value with the low word first

# scales
S_1 = const(0)
S_DIV10 = const(1)
S_DIV100 = const(2)
S_DIV1000 = const(3)
S_MUL1000 = const(4)
S_MUL10 = const(5)
S_MUL100 = const(6)
SCALE_NUM = (1, 1, 1, 1, 1000, 10, 100)
SCALE_DEN = (1, 10, 100, 1000, 1, 1, 1)

_NO = (0, T_NONE, S_1)


def rows(*cols):
    # cols: one (reg, kind, scale) per quantity column, in Q_* order.
    b = bytearray(4 * len(cols))
    for i, c in enumerate(cols):
        b[4 * i] = c[0] >> 8
        b[4 * i + 1] = c[0] & 0xFF
        b[4 * i + 2] = c[1]
        b[4 * i + 3] = c[2]
    return bytes(b)


def nregs(kind):
    t = kind & 7
    if t == T_NONE:
        return 0
    if t == T_U16 or t == T_I16:
        return 1
    return 2


# CHINT DDSU666, single-phase, holding registers: V, A, kW, Hz, kWh.
DDSU666 = ("DDSU666", 3, 1, rows(
    (0x4000, T_F32, S_MUL1000),  # Q_E_IMP kWh
    (0x400A, T_F32, S_MUL1000),  # Q_E_EXP kWh
    (0x2004, T_F32, S_MUL1000),  # Q_P kW
    (0x2002, T_F32, S_1),        # Q_I1 A
    _NO, _NO,
    (0x2000, T_F32, S_1),        # Q_U1 V
    _NO, _NO,
    (0x200E, T_F32, S_1),        # Q_F Hz
))

# CHINT DTSU666, three-phase, holding registers: 0.1 V, 0.001 A, 0.1 W, 0.01 Hz, kWh.
# Phase voltages at 0x2006.. (0x2000.. holds line-to-line, as OpenEMS reads it).
DTSU666 = ("DTSU666", 3, 3, rows(
    (0x101E, T_F32, S_MUL1000),
    (0x1028, T_F32, S_MUL1000),
    (0x2012, T_F32, S_DIV10),
    (0x200C, T_F32, S_DIV1000),
    (0x200E, T_F32, S_DIV1000),
    (0x2010, T_F32, S_DIV1000),
    (0x2006, T_F32, S_DIV10),
    (0x2008, T_F32, S_DIV10),
    (0x200A, T_F32, S_DIV10),
    (0x2044, T_F32, S_DIV100),
))

# Eastron SDM630, three-phase, input registers: SI units, energy in kWh.
SDM630 = ("SDM630", 4, 3, rows(
    (0x0048, T_F32, S_MUL1000),
    (0x004A, T_F32, S_MUL1000),
    (0x0034, T_F32, S_1),
    (0x0006, T_F32, S_1),
    (0x0008, T_F32, S_1),
    (0x000A, T_F32, S_1),
    (0x0000, T_F32, S_1),
    (0x0002, T_F32, S_1),
    (0x0004, T_F32, S_1),
    (0x0046, T_F32, S_1),
))

# DTSU666 firmware whose phase voltages sit at 0x2000.. (sources disagree; see the meters README).
DTSU666_U2000 = ("DTSU666-U2000", 3, 3, DTSU666[3][:4 * Q_U1] + rows(
    (0x2000, T_F32, S_DIV10),
    (0x2002, T_F32, S_DIV10),
    (0x2004, T_F32, S_DIV10),
) + DTSU666[3][4 * Q_F:])

# Append only: the index is stored in device configuration.
MODELS = (DDSU666, DTSU666, SDM630, DTSU666_U2000)
DDSU666_ID = const(0)
DTSU666_ID = const(1)
SDM630_ID = const(2)
DTSU666_U2000_ID = const(3)


def model_index(name):
    for i, m in enumerate(MODELS):
        if m[0] == name:
            return i
    raise ValueError(name)
