# The board layer: the only hardware-specific code. make_board picks it from station.json.


def make_board(station, config):
    kind = station.get('board', 'sim')
    if kind == 'sim':
        from board.sim import SimBoard
        return SimBoard(station, config)
    if kind == 'esp32':
        from board.esp32 import Esp32Board
        return Esp32Board(station, config)
    raise ValueError('unknown board %r' % kind)
