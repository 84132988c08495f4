# OCPP 1.6 configuration keys of this charge point: Core, LocalAuthListManagement and vendor keys.
#
# KEYS maps name -> (type, default, flags, lo, hi)
#   type  'b' bool, 'i' int (lo..hi), 's' free text (at most hi chars),
#         'm' comma-separated measurands from MEASURANDS (at most hi items),
#         'p' comma-separated phase rotations "<connectorId>.<rotation>" (at most hi items)
#   flags RO (ChangeConfiguration refused) | REBOOT (takes effect after a reboot)
# INTERNAL holds settings that are not OCPP keys (never listed by GetConfiguration).
RO = 1
REBOOT = 2

# measurands the board can deliver (its meter gives the energy register and active power);
# a CSL naming anything else is refused, as OCPP 1.6 asks for unsupported measurands
MEASURANDS = (
    "Energy.Active.Import.Register",
    "Energy.Active.Import.Interval",
    "Power.Active.Import",
)
ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
CSL_MAX = 4  # items in a measurand CSL (the *MaxLength keys report it)
MAX_VALUE_LEN = 500  # ChangeConfiguration value is CiString500

KEYS = {
    # Core profile
    "AllowOfflineTxForUnknownId": ("b", False, 0, 0, 0),
    "AuthorizationCacheEnabled": ("b", True, 0, 0, 0),
    "AuthorizeRemoteTxRequests": ("b", True, 0, 0, 0),
    "ClockAlignedDataInterval": ("i", 0, 0, 0, 86400),
    "ConnectionTimeOut": ("i", 60, 0, 1, 3600),
    "ConnectorPhaseRotation": ("p", "0.NotApplicable", 0, 0, 8),
    "GetConfigurationMaxKeys": ("i", 40, RO, 1, 1000),
    "HeartbeatInterval": ("i", 300, 0, 0, 86400),
    "LocalAuthorizeOffline": ("b", True, 0, 0, 0),
    "LocalPreAuthorize": ("b", False, 0, 0, 0),
    "MeterValuesAlignedData": ("m", "Energy.Active.Import.Register", 0, 0, CSL_MAX),
    "MeterValuesAlignedDataMaxLength": ("i", CSL_MAX, RO, 0, 100),
    "MeterValuesSampledData": ("m", "Energy.Active.Import.Register,Power.Active.Import", 0, 0, CSL_MAX),
    "MeterValuesSampledDataMaxLength": ("i", CSL_MAX, RO, 0, 100),
    "MeterValueSampleInterval": ("i", 60, 0, 0, 86400),
    "NumberOfConnectors": ("i", 1, RO, 1, 16),
    "ResetRetries": ("i", 3, 0, 0, 10),
    "StopTransactionOnEVSideDisconnect": ("b", True, 0, 0, 0),
    "StopTransactionOnInvalidId": ("b", True, 0, 0, 0),
    "StopTxnAlignedData": ("m", "", 0, 0, CSL_MAX),
    "StopTxnAlignedDataMaxLength": ("i", CSL_MAX, RO, 0, 100),
    "StopTxnSampledData": ("m", "Energy.Active.Import.Register", 0, 0, CSL_MAX),
    "StopTxnSampledDataMaxLength": ("i", CSL_MAX, RO, 0, 100),
    "SupportedFeatureProfiles": ("s", "Core,LocalAuthListManagement,RemoteTrigger", RO, 0, 500),
    "TransactionMessageAttempts": ("i", 3, 0, 1, 100),
    "TransactionMessageRetryInterval": ("i", 30, 0, 1, 3600),
    "UnlockConnectorOnEVSideDisconnect": ("b", True, 0, 0, 0),
    # the link layer reads it when it connects
    "WebSocketPingInterval": ("i", 60, REBOOT, 0, 3600),
    # LocalAuthListManagement profile
    "LocalAuthListEnabled": ("b", True, 0, 0, 0),
    "LocalAuthListMaxLength": ("i", 100, RO, 0, 1000),
    "SendLocalListMaxLength": ("i", 20, RO, 0, 1000),
    # vendor: the cache is sized when it is built at boot
    "AuthorizationCacheMaxEntries": ("i", 20, REBOOT, 1, 200),
}

INTERNAL = {
    # ChangeAvailability persists across reboots: False = Inoperative
    "Operative": True,
    # GPIO numbers of the esp32 board
    "esp32_pins": {"cp_adc": 36, "cp_pwm": 25, "contactor": 26, "lock": 27,
                   "uart_tx": 17, "uart_rx": 16, "rs485_de": 4},
}


def find(name):
    # the canonical key name for `name` (OCPP key names are case-insensitive), or None
    if name in KEYS:
        return name
    low = name.lower()
    for k in KEYS:
        if k.lower() == low:
            return k
    return None


def _csl_ok(typ, text, most):
    if text == "":
        return True
    n = 0
    for item in text.split(","):
        item = item.strip()
        n += 1
        if typ == "m":
            if item not in MEASURANDS:
                return False
        else:
            dot = item.find(".")
            if dot < 1 or item[dot + 1:] not in ROTATIONS:
                return False
            try:
                if int(item[:dot]) < 0:
                    return False
            except ValueError:
                return False
    return n <= most


def valid(name, value):
    # True when `value` (a typed value) is acceptable for key `name`
    typ, default, flags, lo, hi = KEYS[name]
    if typ == "b":
        return value is True or value is False
    if typ == "i":
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if not isinstance(value, str):
        return False
    if typ == "s":
        return len(value) <= hi
    return _csl_ok(typ, value, hi)


def parse(name, text):
    # ChangeConfiguration value text -> typed value; raises ValueError when not acceptable
    typ = KEYS[name][0]
    if len(text) > MAX_VALUE_LEN:
        raise ValueError("too long")
    if typ == "b":
        low = text.strip().lower()
        if low == "true":
            return True
        if low == "false":
            return False
        raise ValueError("not a boolean")
    if typ == "i":
        t = text.strip()
        digits = t[1:] if t[:1] in ("-", "+") else t
        if not digits or not digits.isdigit():
            raise ValueError("not an integer")
        value = int(t)
    elif typ == "s":
        value = text
    else:
        value = ",".join([item.strip() for item in text.split(",")]) if text.strip() else ""
    if not valid(name, value):
        raise ValueError("out of range")
    return value


def to_text(value):
    # typed value -> the text GetConfiguration reports
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)
