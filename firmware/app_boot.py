# Boot and restart of app.App, loaded for them only (lazy.py). setup() reads what station.json
# provisions and builds the link, config, board, journal, authorization stores, connector and OCPP
# core, takes the board's first reading, recovers the journal and builds the setpoint executor
# (power.py); restart() ends the process on a Reset. The classes come from the modules app imports.
import asyncio
from micropython import const
from time import ticks_ms

from auth import AuthCache, LocalList
from board import make_board
from config import Config
from connector import Connector
from journal import Journal
import lazy
from log import log
from ocpp16 import Ocpp16
from power import Power
from ws import WsClient

_STEP_MS = const(200)
_FIRST_READING_TRIES = const(15)  # ~3 s for the sim board's plant link at boot


async def setup(app):
    st = app.station
    log('INFO', 'BOOT id=%s' % st['id'])
    # the link's frame buffer is the biggest block: take it while the heap is unfragmented. OCPP
    # 1.6 messages to a charger are far smaller than its default 8 kB; larger ones are refused
    # (close 1009) and the link reconnects.
    app.ws = WsClient(st['url'] + '/' + st['id'], st['id'], st['password'], 'ocpp1.6',
                      st.get('max_frame', 8192))
    cfg = Config('config.json', log=log)
    board = app.board = make_board(st, cfg)
    await board.start()
    j = Journal('journal.bin', st.get('journal_bytes', 16384), crash=st.get('test_crash'))
    j.open()
    local = LocalList('auth.json', cfg.get('LocalAuthListMaxLength'), cfg.get('SendLocalListMaxLength'),
                      log=log)
    cache = AuthCache('authcache.json', cfg.get('AuthorizationCacheMaxEntries'), log=log)
    conn = app.conn = Connector(1)
    app.ws.set_ping(cfg.get('WebSocketPingInterval') * 1000)
    meter = board.meter
    if 'thermal' in st or 'meter' in st:  # cold-region wiring (app_cold.py), built at boot only
        app.ext = lazy.call('app_cold_make', 'build', app, st)
        await lazy.call('app_cold_make', 'start', app.ext)  # the meter's first reading, before recovery
        meter = app.ext.reading
    app.core = Ocpp16(cfg, j, local, cache, conn, app.send, board.now_s, meter,
                      set_time=board.set_time, reset=app.reset, unlock=app.unlock, log=log,
                      info={k: st[k] for k in ('vendor', 'model', 'serial') if k in st})
    if app.ext is not None:
        app.ext.core = app.core
        app.core.mtr = app.ext.mtr  # a Modbus meter: per-phase values in MeterValues (ocpp16_mv)
    # the first reading decides what a transaction cut by a power loss was billed up to
    for _ in range(_FIRST_READING_TRIES):
        await board.poll()
        if getattr(board, 'linked', True):
            break
        await asyncio.sleep_ms(_STEP_MS)
    now = ticks_ms()
    conn.step(board.cp_state(), now)
    # records to send, and the bytes of a torn tail dropped at open (a power cut mid-write)
    log('INFO', 'JOURNAL n=%d dropped=%d' % (app.core.recover(now), j.dropped))
    _power(app, st, cfg)


def _power(app, st, cfg):
    # the setpoint executor (power.py) with the profiles kept on flash; whether the station may
    # discharge is station.json's word, shown as the read-only FrostgridDischargeCapable
    cap = st.get('discharge_capable') is True
    if cfg.get('FrostgridDischargeCapable') != cap:
        try:
            cfg.set('FrostgridDischargeCapable', cap)
        except Exception as e:  # the key shows the old value; the executor uses station.json's
            log('WARN', 'CONFIG FrostgridDischargeCapable not saved %r' % e)
    app.core.power = lazy.call('profiles', 'setup', Power(), (
        st.get('max_power_w', 22000), st.get('voltage_v', 230), cap, st.get('ramp_w_per_s', 10000),
        st.get('link_loss_fallback_s', 60), st.get('discharge_reserve_soc_pct', 20)))


async def restart(app, hard):
    # a Reset from the backend: contactor open, link closed (bounded), then the board resets
    log('INFO', 'RESET %s' % ('hard' if hard else 'soft'))
    app.board.set_contactor(False)
    ext = app.ext
    if ext is not None and ext.ctl is not None:
        # what the thermal controller learned since the last hourly save (a firmware update
        # ends in a Reset too)
        try:
            lazy.call('app_cold_evt', 'save_learned', ext)
        except Exception as e:
            log('WARN', 'LEARNED %r' % e)
    try:
        await asyncio.wait_for_ms(app.ws.close(), 3000)
    except Exception:
        pass
    app.board.reset(hard)  # does not return: the process exits (sim) or the board restarts
