# IEC 61851 control-pilot state machine of one connector, and the OCPP 1.6 status it implies.
# Pure: no I/O, no clock; time comes in as `now_ms` (ticks). The OCPP module decides when a
# transaction begins and ends; this module decides when the contactor may close.
from micropython import const
from time import ticks_diff

# Control-pilot states (IEC 61851-1):
#   A +12 V  no EV            B +9 V  EV connected, not ready   C +6 V  EV requests charge
#   D +3 V   charge + ventilation   E 0 V  no pilot / short to PE   F -12 V  EVSE not available
_PLUGGED = const('BCD')
_DRAWING = const('CD')

# Default time an authorization waits for the cable (OCPP ConnectionTimeOut).
_CONNECTION_TIMEOUT_MS = const(60000)


class Connector:
    def __init__(self, connector_id=1):
        self.connector_id = connector_id
        self.cp = 'A'  # last control-pilot state seen
        self.available = True  # Operative; False = Inoperative
        self.scheduled = None  # None=no change waiting; True/False = availability to apply after the tx
        self.tx_active = False
        self.authorized = False  # an idTag is accepted for this connector (before or during the tx)
        self.fault = None  # None or OCPP errorCode of the active fault
        self.fault_info = None  # short text for StatusNotification.info
        self.vendor_error = None  # StatusNotification.vendorErrorCode
        self.ext_fault = None  # fault raised by hardware checks (RCD, lock), kept until cleared
        self.ext_info = None
        self.limit_w = None  # None=no limit; 0 suspends delivery by the EVSE
        # None, or the vendorErrorCode of a local condition that holds charging off without a
        # fault (the cold-start interlock, app_cold.py): no new transaction, contactor open,
        # status Preparing/Unavailable with hold_info as StatusNotification.info
        self.hold = None
        self.hold_info = None
        self.ventilation = True  # False: the site cannot ventilate, state D is not served
        self.finishing = False  # a tx ended with the EV still plugged; cleared when unplugged
        self.connection_timeout_ms = _CONNECTION_TIMEOUT_MS
        self._auth_ms = 0  # ticks when `authorized` was set without a transaction

    # ---- inputs -------------------------------------------------------------------------------
    def step(self, cp_state, now_ms):
        if cp_state not in 'ABCDEF' or len(cp_state) != 1:
            cp_state = 'E'
        self.cp = cp_state
        if cp_state == 'A':
            self.finishing = False
            if self.authorized and not self.tx_active and \
                    ticks_diff(now_ms, self._auth_ms) >= self.connection_timeout_ms:
                self.authorized = False
        self._eval_fault()

    def _eval_fault(self):
        cp = self.cp
        if self.ext_fault is not None:
            self.fault, self.fault_info = self.ext_fault, self.ext_info
        elif cp == 'E':
            self.fault, self.fault_info = 'EVCommunicationError', 'no pilot'
        elif cp == 'F':
            self.fault, self.fault_info = 'OtherError', 'EVSE fault'
        else:
            self.fault = self.fault_info = None

    def authorize(self, now_ms):
        # a new user may take over a connector whose last session is still 'Finishing'
        self.authorized = True
        self.finishing = False
        self._auth_ms = now_ms

    def deauthorize(self):
        self.authorized = False

    def set_fault(self, error_code, info=None, vendor_error=None):
        # e.g. 'GroundFailure' from the RCD, 'ConnectorLockFailure' from the lock sensor
        self.ext_fault = error_code
        self.ext_info = info
        self.vendor_error = vendor_error
        self._eval_fault()

    def clear_fault(self):
        self.ext_fault = self.ext_info = self.vendor_error = None
        self._eval_fault()

    def set_limit(self, limit_w):
        self.limit_w = limit_w

    def set_available(self, operative):
        # 'Accepted' now, or 'Scheduled' until the running transaction ends (OCPP ChangeAvailability)
        if self.tx_active and not operative and self.available:
            self.scheduled = False
            return 'Scheduled'
        self.scheduled = None
        self.available = operative
        if not operative:
            self.authorized = False
        return 'Accepted'

    def begin_tx(self):
        self.tx_active = True
        self.finishing = False

    def end_tx(self):
        self.tx_active = False
        self.authorized = False
        self.finishing = self.cp in _PLUGGED
        if self.scheduled is not None:
            self.available = self.scheduled
            self.scheduled = None

    # ---- outputs ------------------------------------------------------------------------------
    def may_start(self):
        # a transaction may begin: authorized, cable in, connector usable
        return (self.authorized and not self.tx_active and self.available and self.fault is None
                and self.cp in _PLUGGED and not self.finishing and self.hold is None)

    def ev_drawing(self):
        return self.cp == 'C' or (self.cp == 'D' and self.ventilation)

    def want_contactor(self):
        return (self.tx_active and self.authorized and self.available and self.fault is None
                and self.ev_drawing() and self.limit_w != 0 and self.hold is None)

    def want_lock(self):
        return self.tx_active and self.cp in _PLUGGED

    def error_code(self):
        return self.fault or 'NoError'

    def status(self):
        if self.fault is not None:
            return 'Faulted'
        if not self.available:
            return 'Unavailable'
        cp = self.cp
        if self.tx_active:
            if cp in _DRAWING:
                if not self.authorized or self.limit_w == 0 or not self.ev_drawing() or self.hold:
                    return 'SuspendedEVSE'
                return 'Charging'
            return 'SuspendedEV'
        if self.finishing and cp in _PLUGGED:
            return 'Finishing'
        if self.hold is not None:
            return 'Preparing' if cp in _PLUGGED or self.authorized else 'Unavailable'
        if cp in _PLUGGED or self.authorized:
            return 'Preparing'
        return 'Available'
