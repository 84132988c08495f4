# The board layer: the only hardware-specific code. make_board picks it from station.json.


def make_board(station, config):
    kind = station.get('board', 'sim')
    if kind == 'sim':
        if 'thermal' in station or 'meter' in station:  # heated zones / a Modbus meter
            from board.sim_cold import ColdSimBoard
            return ColdSimBoard(station, config)
        from board.sim import SimBoard
        return SimBoard(station, config)
    if kind == 'esp32':
        from board.esp32 import Esp32Board
        return Esp32Board(station, config)
    raise ValueError('unknown board %r' % kind)
