# Persisted settings: OCPP configuration keys (KEYS) and internal ones ('Operative', 'esp32_pins').
#
# config.json is a flat JSON object {key: value} holding only the values that differ from the
# built-in defaults by choice (set or changed, or written by an installer); missing keys take
# their defaults. Every change rewrites it atomically (fsutil.write_atomic). A file that does not
# parse, is not an object, or holds a value of the wrong type or out of range is renamed to
# config.json.corrupt and the factory defaults load, with an ERROR logged.
#
# config.json is read and checked, values are checked and the OCPP views (Get/ChangeConfiguration)
# are built by ocpp_keys, which is loaded only for that (at boot, on set(), on the backend's
# configuration CALLs; lazy.py): code stays out of RAM on a board that loads .mpy files into it.
import json

import lazy

# The OCPP keys of this charge point (Core, LocalAuthListManagement, vendor), one per line:
#   "<name> <type> <flags> <lo> <hi> <default>"
#   type  b bool, i int (lo..hi), s free text (at most hi chars),
#         m comma-separated measurands (at most hi items, from ocpp_keys._MEASURANDS),
#         p comma-separated phase rotations "<connectorId>.<rotation>" (at most hi items)
#   flags RO (ChangeConfiguration refused) | REBOOT (takes effect after a reboot)
# One packed text instead of a dict of tuples: a sixth of the RAM. Defaults are parsed from it on
# first use and cached (Config._defs), so steady-state reads allocate nothing.
RO = 1
REBOOT = 2
KEYS = (
    "\nAllowOfflineTxForUnknownId b 0 0 0 false"
    "\nAuthorizationCacheEnabled b 0 0 0 true"
    "\nAuthorizeRemoteTxRequests b 0 0 0 true"
    "\nClockAlignedDataInterval i 0 0 86400 0"
    "\nConnectionTimeOut i 0 1 3600 60"
    "\nConnectorPhaseRotation p 0 0 8 0.NotApplicable"
    "\nGetConfigurationMaxKeys i 1 1 1000 40"
    "\nHeartbeatInterval i 0 0 86400 300"
    "\nLocalAuthorizeOffline b 0 0 0 true"
    "\nLocalPreAuthorize b 0 0 0 false"
    "\nMeterValuesAlignedData m 0 0 4 Energy.Active.Import.Register"
    "\nMeterValuesAlignedDataMaxLength i 1 0 100 4"
    "\nMeterValuesSampledData m 0 0 4 Energy.Active.Import.Register,Power.Active.Import"
    "\nMeterValuesSampledDataMaxLength i 1 0 100 4"
    "\nMeterValueSampleInterval i 0 0 86400 60"
    "\nNumberOfConnectors i 1 1 16 1"
    "\nResetRetries i 0 0 10 3"
    "\nStopTransactionOnEVSideDisconnect b 0 0 0 true"
    "\nStopTransactionOnInvalidId b 0 0 0 true"
    "\nStopTxnAlignedData m 0 0 4 "
    "\nStopTxnAlignedDataMaxLength i 1 0 100 4"
    "\nStopTxnSampledData m 0 0 4 Energy.Active.Import.Register"
    "\nStopTxnSampledDataMaxLength i 1 0 100 4"
    "\nSupportedFeatureProfiles s 1 0 500 Core,LocalAuthListManagement,RemoteTrigger,SmartCharging"
    "\nTransactionMessageAttempts i 0 1 100 3"
    "\nTransactionMessageRetryInterval i 0 1 3600 30"
    "\nUnlockConnectorOnEVSideDisconnect b 0 0 0 true"
    # the link layer reads it when it connects
    "\nWebSocketPingInterval i 2 0 3600 60"
    "\nLocalAuthListEnabled b 0 0 0 true"
    "\nLocalAuthListMaxLength i 1 0 1000 100"
    "\nSendLocalListMaxLength i 1 0 1000 20"
    # vendor: the cache is sized when it is built at boot
    "\nAuthorizationCacheMaxEntries i 2 1 200 20"
    # Smart Charging (profiles.py); FrostgridDischargeCapable: Frostgrid's discharge extension
    # (docs/v2g-ocpp16-extension.md), set from station.json at boot
    "\nChargeProfileMaxStackLevel i 1 0 100 8"
    "\nChargingScheduleAllowedChargingRateUnit s 1 0 20 Current,Power"
    "\nChargingScheduleMaxPeriods i 1 1 100 24"
    "\nMaxChargingProfilesInstalled i 1 1 100 8"
    "\nFrostgridDischargeCapable b 1 0 0 false"
    "\n"
)
INTERNAL = ("Operative", "esp32_pins")


def spec(name):
    # (type, default, flags, lo, hi) of OCPP key `name` (exact spelling), or None
    i = KEYS.find("\n" + name + " ") if " " not in name and "\n" not in name else -1
    if i < 0:
        return None
    f = KEYS[i + 1:KEYS.find("\n", i + 1)].split(" ")
    t = f[1]
    v = f[5]
    return (t, v == "true" if t == "b" else int(v) if t == "i" else v, int(f[2]), int(f[3]), int(f[4]))


class Config:
    def __init__(self, path="config.json", log=None):
        self.path = path
        # `log` may be the log module or a log(level, msg) function
        if log is None:  # the firmware's log.log
            from log import log
        self._log = getattr(log, "log", log)
        self._over = {}  # key -> typed value differing from the defaults by choice
        self._defs = {}  # key -> default, for the keys read so far
        self.load()

    def load(self):
        # read config.json (config_load.py: boot-time code, loaded for it)
        lazy.call("config_load", "load", self)

    def get(self, key):
        over = self._over
        if key in over:
            return over[key]
        defs = self._defs
        if key not in defs:
            s = spec(key)
            defs[key] = lazy.call("ocpp_keys", "internal_default", key) if s is None else s[1]
        return defs[key]

    def set(self, key, value):
        s = spec(key)
        # booleans and integers are checked here, the rest by ocpp_keys
        if (s is not None and s[0] == "b") or key == "Operative":
            ok = value is True or value is False
        elif s is not None and s[0] == "i":
            ok = type(value) is int and s[3] <= value <= s[4]
        else:
            ok = lazy.call("ocpp_keys", "check", key, value, True)
        if ok is None:
            raise KeyError(key)
        if not ok:
            raise ValueError("config: bad value for %s: %r" % (key, value))
        had = key in self._over
        old = self._over.get(key)
        self._over[key] = value
        try:
            self.save()
        except Exception:
            if had:
                self._over[key] = old
            else:
                del self._over[key]
            raise

    def save(self):
        lazy.call("fsutil", "write_atomic", self.path, json.dumps(self._over))

    def reset(self):
        # factory defaults, persisted
        self._over = {}
        self.save()

    def ocpp_get(self, keys=None):
        # GetConfiguration: ([{key, readonly, value}], unknown names); all OCPP keys when `keys` is empty
        return lazy.call("ocpp_keys", "ocpp_get", self, keys)

    def ocpp_get_json(self, keys=None):
        # ocpp_get as the GetConfiguration payload, JSON bytes built key by key (less heap)
        return lazy.call("ocpp_keys", "ocpp_get_json", self, keys)

    def ocpp_change(self, key, value_str):
        # ChangeConfiguration: 'Accepted' | 'Rejected' | 'RebootRequired' | 'NotSupported'
        return lazy.call("ocpp_keys", "ocpp_change", self, key, value_str)
