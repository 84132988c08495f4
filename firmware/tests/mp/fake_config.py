# Small stand-in for config.Config (docs/interfaces.md §1.4) for the ocpp16 unit tests: the real
# Config, Journal, auth and ocpp16 do not all fit the 100 kB test heap together when compiled
# from source. Keys: name -> [value, read-only]; values typed as the real ones.
import json

DEFAULTS = (
    ('AllowOfflineTxForUnknownId', False, 0), ('AuthorizationCacheEnabled', True, 0),
    ('AuthorizeRemoteTxRequests', True, 0), ('ConnectionTimeOut', 60, 0),
    ('GetConfigurationMaxKeys', 40, 1), ('HeartbeatInterval', 300, 0),
    ('LocalAuthorizeOffline', True, 0), ('LocalPreAuthorize', False, 0),
    ('MeterValuesSampledData', 'Energy.Active.Import.Register,Power.Active.Import', 0),
    ('MeterValueSampleInterval', 60, 0), ('NumberOfConnectors', 1, 1),
    ('StopTransactionOnEVSideDisconnect', True, 0), ('StopTransactionOnInvalidId', True, 0),
    ('StopTxnSampledData', 'Energy.Active.Import.Register', 0), ('TransactionMessageAttempts', 3, 0),
    ('TransactionMessageRetryInterval', 30, 0), ('LocalAuthListEnabled', True, 0),
    ('SendLocalListMaxLength', 20, 1), ('Operative', True, 2),
)


class Config:
    def __init__(self, path='config.json', log=None):
        self.path = path
        self.keys = {}
        for k, v, ro in DEFAULTS:
            self.keys[k] = [v, ro]
        try:
            with open(path) as f:
                for k, v in json.load(f).items():
                    self.keys[k][0] = v
        except OSError:
            pass

    def get(self, key):
        return self.keys[key][0]

    def set(self, key, value):
        self.keys[key][0] = value
        with open(self.path, 'w') as f:
            f.write(json.dumps(dict((k, e[0]) for k, e in self.keys.items())))

    def ocpp_get(self, keys):
        known, unknown = [], []
        for k in keys or [k for k in self.keys if self.keys[k][1] < 2]:
            e = self.keys.get(k)
            if e is None or e[1] == 2:
                unknown.append(k)
            else:
                v = e[0]
                known.append({'key': k, 'readonly': e[1] == 1,
                              'value': ('true' if v else 'false') if type(v) is bool else str(v)})
        return known, unknown

    def ocpp_get_json(self, keys):
        known, unknown = self.ocpp_get(keys)
        res = {'configurationKey': known}
        if unknown:
            res['unknownKey'] = unknown
        return json.dumps(res).encode()

    def ocpp_change(self, key, value):
        e = self.keys.get(key)
        if e is None or e[1] == 2:
            return 'NotSupported'
        if e[1]:
            return 'Rejected'
        try:
            v = e[0]
            self.set(key, (value == 'true') if type(v) is bool else int(value) if type(v) is int else value)
        except ValueError:
            return 'Rejected'
        return 'Accepted'
