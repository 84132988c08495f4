# IEC 61851 control-pilot states -> contactor, cable lock and the OCPP 1.6 status they imply.
from connector import Connector


def _conn(cp='A', tx=False, now_ms=0):
    c = Connector(1)
    c.step(cp, now_ms)
    if tx:
        c.authorize(now_ms)
        c.begin_tx()
    return c


def test_every_pilot_state_without_transaction():
    want = {'A': ('Available', 'NoError'), 'B': ('Preparing', 'NoError'), 'C': ('Preparing', 'NoError'),
            'D': ('Preparing', 'NoError'), 'E': ('Faulted', 'EVCommunicationError'),
            'F': ('Faulted', 'OtherError')}
    for cp, (status, err) in want.items():
        c = _conn(cp)
        assert (c.status(), c.error_code()) == (status, err), cp
        assert not c.want_contactor(), cp
        assert not c.want_lock(), cp


def test_every_pilot_state_during_transaction():
    want = {'A': ('SuspendedEV', False), 'B': ('SuspendedEV', False), 'C': ('Charging', True),
            'D': ('Charging', True), 'E': ('Faulted', False), 'F': ('Faulted', False)}
    for cp, (status, closed) in want.items():
        c = _conn('B', tx=True)
        c.step(cp, 200)
        assert c.status() == status, cp
        assert c.want_contactor() == closed, cp
        assert c.want_lock() == (cp in 'BCD'), cp


def test_contactor_never_closes_without_transaction():
    c = _conn('C')
    c.authorize(0)
    for cp in 'ABCDEF':
        c.step(cp, 100)
        assert not c.want_contactor(), cp


def test_unknown_pilot_reading_is_treated_as_no_pilot():
    c = _conn('C', tx=True)
    for bad in ('X', '', 'CC', None):
        c.step(bad or '?', 100)
        assert c.cp == 'E' and c.status() == 'Faulted' and not c.want_contactor()


def test_ventilation_state_d_needs_ventilation():
    c = _conn('D', tx=True)
    assert c.want_contactor()
    c.ventilation = False
    assert not c.want_contactor() and c.status() == 'SuspendedEVSE'


def test_power_limit_zero_suspends_by_evse():
    c = _conn('C', tx=True)
    c.set_limit(0)
    assert c.status() == 'SuspendedEVSE' and not c.want_contactor()
    c.set_limit(None)
    assert c.status() == 'Charging' and c.want_contactor()


def test_deauthorized_transaction_is_suspended_by_evse():
    c = _conn('C', tx=True)
    c.deauthorize()
    assert c.status() == 'SuspendedEVSE' and not c.want_contactor()


def test_inoperative_connector_is_unavailable_and_never_charges():
    c = _conn('C')
    assert c.set_available(False) == 'Accepted'
    assert c.status() == 'Unavailable'
    c.authorize(0)
    assert not c.may_start()
    assert c.set_available(True) == 'Accepted' and c.status() == 'Preparing'


def test_inoperative_during_transaction_is_scheduled_until_it_ends():
    c = _conn('C', tx=True)
    assert c.set_available(False) == 'Scheduled'
    assert c.status() == 'Charging' and c.want_contactor()
    c.end_tx()
    assert c.status() == 'Unavailable' and not c.available and not c.want_contactor()


def test_finishing_after_transaction_until_unplugged():
    c = _conn('C', tx=True)
    c.end_tx()
    assert c.status() == 'Finishing' and not c.may_start()
    c.step('A', 100)
    assert c.status() == 'Available'


def test_new_card_on_finishing_connector_prepares_next_session():
    c = _conn('B', tx=True)
    c.end_tx()
    c.authorize(100)
    assert c.status() == 'Preparing' and c.may_start()


def test_transaction_may_start_only_when_authorized_plugged_and_healthy():
    c = _conn('A')
    c.authorize(0)
    assert c.status() == 'Preparing' and not c.may_start()
    c.step('B', 100)
    assert c.may_start()
    c.step('F', 200)
    assert not c.may_start()


def test_authorization_expires_without_cable():
    c = _conn('A')
    c.connection_timeout_ms = 1000
    c.authorize(0)
    c.step('A', 999)
    assert c.authorized
    c.step('A', 1000)
    assert not c.authorized and c.status() == 'Available'


def test_hardware_fault_reports_its_error_code_until_cleared():
    c = _conn('C', tx=True)
    c.set_fault('GroundFailure', 'RCD tripped', 'RCD1')
    c.step('C', 100)
    assert c.status() == 'Faulted' and c.error_code() == 'GroundFailure' and c.fault_info == 'RCD tripped'
    assert not c.want_contactor()
    c.clear_fault()
    assert c.status() == 'Charging' and c.want_contactor()
