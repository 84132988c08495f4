"""`frostgrid device provision`: validated settings, written atomically, secrets never shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hil_tests.backend_proc import BackendProc
from installer import provision as pv
from installer.cli import device_app
from installer.link import BoardError, BoardLink
from installer.ptyboard import PtyBoard
from installer.tests.conftest import new_id

PASSWORD = "s3cret-Pw-9f1c"


def _provision(port: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        device_app,
        ["provision", "--port", port, "--no-qr", *args],
        env={"FROSTGRID_STATION_PASSWORD": PASSWORD, **(env or {})},
    )


def _good_args(sid: str, url: str = "ws://127.0.0.1:9000/ocpp") -> list[str]:
    return [
        "--id",
        sid,
        "--url",
        url,
        "--meter-model",
        "DTSU666",
        "--meter-address",
        "3",
        "--zone",
        "electronics:-20:60:60:contactor",
        "--zone",
        "display:-20:60:5:display",
        "--lat",
        "47.35",
        "--lon",
        "130.3",
        "--ethernet",
    ]


def _station_json(board: PtyBoard) -> bytes:
    return (board.flash_dir / "station.json").read_bytes()


def test_provision_writes_station_json_the_firmware_reads_and_never_shows_the_password(
    board: PtyBoard,
) -> None:
    sid = new_id()
    r = _provision(board.port, *_good_args(sid), "--json")
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output
    shown = json.loads(r.stdout)
    assert shown["ok"] and shown["station"]["password"] == "***"
    st = json.loads(_station_json(board))
    assert st["id"] == sid and st["password"] == PASSWORD and st["url"] == "ws://127.0.0.1:9000/ocpp"
    assert st["meter"]["model"] == "DTSU666" and st["meter"]["address"] == 3
    assert [z["name"] for z in st["thermal"]["zones"]] == ["electronics", "display"]
    assert st["thermal"]["zones"][1]["guards"] == "display" and len(st["thermal"]["sensors"]) == 2
    assert st["location"] == {"lat": 47.35, "lon": 130.3} and st["net"] == {"kind": "ethernet"}
    assert not (board.flash_dir / "station.json.tmp").exists()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (["--meter-model", "ACME9000"], "meter.model"),
        (["--url", "http//csms.example.net/ocpp"], "url"),
        (["--url", "wss://csms.example.net/ocpp"], "tls_ca"),
        (["--zone", "electronics:-20:-30"], "zones.0"),
        (["--meter-address", "300"], "meter.address"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_the_previous_config_stays(
    board: PtyBoard, bad: list[str], field: str
) -> None:
    sid = new_id()
    assert _provision(board.port, *_good_args(sid)).exit_code == 0
    before = _station_json(board)
    args = _good_args(sid)
    flag = bad[0]
    if flag in args and flag != "--zone":
        args[args.index(flag) + 1] = bad[1]
    else:
        args = [a for i, a in enumerate(args) if not (a == "--zone" or (i and args[i - 1] == "--zone"))] + bad
    r = _provision(board.port, *args, "--json")
    assert r.exit_code != 0
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["field"].startswith(field), out
    assert field in out["error"] and PASSWORD not in r.output
    assert _station_json(board) == before


def test_duplicate_station_id_at_the_backend_is_refused_and_the_board_keeps_its_config(
    board: PtyBoard, backend: BackendProc
) -> None:
    sid = new_id()
    backend.add_station(sid, "someone-elses")
    first = new_id()
    assert _provision(board.port, *_good_args(first)).exit_code == 0
    before = _station_json(board)
    r = _provision(
        board.port,
        *_good_args(sid, backend.ocpp_url),
        "--register",
        "--api-url",
        backend.api_url,
        "--json",
        env={"FROSTGRID_API_TOKEN": backend.admin_token},
    )
    assert r.exit_code != 0
    out = json.loads(r.stdout)
    assert out["field"] == "id" and "already registered" in out["error"]
    assert _station_json(board) == before


def test_register_adds_the_station_to_the_backend_with_its_password(
    board: PtyBoard, backend: BackendProc
) -> None:
    sid = new_id()
    r = _provision(
        board.port,
        *_good_args(sid, backend.ocpp_url),
        "--register",
        "--api-url",
        backend.api_url,
        env={"FROSTGRID_API_TOKEN": backend.admin_token},
    )
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output
    assert sid in r.output  # the label text under the success line
    assert backend.station(sid)["id"] == sid


def test_register_without_an_api_token_is_refused_before_anything_is_written(board: PtyBoard) -> None:
    r = _provision(
        board.port,
        *_good_args(new_id()),
        "--register",
        "--api-url",
        "http://127.0.0.1:9/api/v1/",
        "--json",
        env={"FROSTGRID_API_TOKEN": ""},
    )
    assert r.exit_code != 0 and json.loads(r.stdout)["field"] == "api_token"
    assert not (board.flash_dir / "station.json").exists()


def test_qr_label_is_saved_as_png(board: PtyBoard, tmp_path: Path) -> None:
    png = tmp_path / "label.png"
    r = _provision(board.port, *_good_args(new_id()), "--qr-png", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 100


def test_power_cut_while_station_json_is_written_keeps_the_previous_config(
    board: PtyBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _provision(board.port, *_good_args(new_id())).exit_code == 0
    before = _station_json(board)
    real_write = BoardLink.write_file

    def write_then_cut(self: BoardLink, path: str, data: bytes, progress: Any = None) -> None:
        real_write(self, path, data[: len(data) // 2])
        board.power_off()
        raise BoardError("link lost")

    monkeypatch.setattr(BoardLink, "write_file", write_then_cut)
    settings = pv.validate({"id": new_id(), "url": "ws://127.0.0.1:9/ocpp", "password": PASSWORD})
    with pytest.raises(BoardError), BoardLink(board.port) as link:
        pv.write_to_board(link, settings)
    assert _station_json(board) == before
    monkeypatch.undo()
    board.power_on()
    with BoardLink(board.port) as link:
        assert pv.read_from_board(link) == json.loads(before)


def test_settings_from_a_toml_file_with_secrets_in_files_and_a_tls_ca(
    board: PtyBoard, tmp_path: Path
) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
    (tmp_path / "ca.pem").write_text(pem)
    (tmp_path / "pw.txt").write_text("from-a-file-77\n")
    (tmp_path / "psk.txt").write_text("depot-passphrase\n")
    sid = new_id()
    (tmp_path / "station.toml").write_text(
        f'id = "{sid}"\nurl = "wss://csms.example.net/ocpp"\n'
        'tls_ca_file = "ca.pem"\npassword_file = "pw.txt"\n'
        '[network]\nkind = "wifi"\nssid = "depot"\npsk_file = "psk.txt"\n'
        '[meter]\nmodel = "SDM630"\naddress = 7\n'
        '[[zones]]\nname = "electronics"\nmin_c = -25\ncutoff_c = 55\n'
    )
    r = CliRunner().invoke(
        device_app,
        ["provision", "--port", board.port, "--config", str(tmp_path / "station.toml"), "--no-qr", "--json"],
        env={"FROSTGRID_STATION_PASSWORD": ""},
    )
    assert r.exit_code == 0, r.output
    assert "from-a-file-77" not in r.output and "depot-passphrase" not in r.output
    st = json.loads(_station_json(board))
    assert st["id"] == sid and st["password"] == "from-a-file-77" and st["ca"] == "ca.pem"
    assert st["net"] == {"kind": "wifi", "ssid": "depot", "psk": "depot-passphrase"}
    assert st["meter"]["model"] == "SDM630" and st["meter"]["address"] == 7
    assert (board.flash_dir / "ca.pem").read_text() == pem
