"""`frostgrid device build`: reproducible bundles with a manifest, and a bundle that runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hil_tests.backend_proc import BackendProc
from hil_tests.dut import Dut, station_json
from hil_tests.plant import ThreadedPlant
from installer.build import MANIFEST, BuildError, build_bundle, sha256_file
from installer.tests.conftest import new_id


def test_building_twice_gives_byte_identical_manifests(
    tmp_path: Path, firmware_src: Path, host_bundle: Path
) -> None:
    build_bundle("xtensawin", tmp_path / "a", src=firmware_src)
    build_bundle("xtensawin", tmp_path / "b", src=firmware_src)
    first = (tmp_path / "a" / MANIFEST).read_bytes()
    assert first == (tmp_path / "b" / MANIFEST).read_bytes()
    manifest = json.loads(first)
    assert manifest["target"] == "xtensawin" and manifest["version"]
    assert manifest["mpy_cross"].startswith("MicroPython")
    build_bundle("host", tmp_path / "h", src=firmware_src)  # the host bundle of the fixture, again
    assert (tmp_path / "h" / MANIFEST).read_bytes() == (host_bundle / MANIFEST).read_bytes()


def test_manifest_lists_every_file_of_the_bundle_with_its_sha256(
    host_bundle: Path, firmware_src: Path
) -> None:
    manifest = json.loads((host_bundle / MANIFEST).read_text())
    listed = {e["path"]: e for e in manifest["files"]}
    on_disk = {p.relative_to(host_bundle).as_posix() for p in host_bundle.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {MANIFEST}
    assert [e["path"] for e in manifest["files"]] == sorted(listed)
    for path, e in listed.items():
        assert (
            sha256_file(host_bundle / path) == e["sha256"]
            and (host_bundle / path).stat().st_size == e["size"]
        )
    # every module compiled, board/ as a package; the root package marker and main.py are not
    rels = [p.relative_to(firmware_src) for p in firmware_src.rglob("*.py")]
    sources = {
        r.with_suffix(".mpy").as_posix() for r in rels if r.as_posix() not in ("main.py", "__init__.py")
    }
    assert "board/__init__.mpy" in sources and "board/sim.mpy" in sources
    assert {f"fw/{s}" for s in sources} <= set(listed)
    assert "fw/main.py" in listed and "main.py" in listed and "fw/selftest.mpy" in listed


def test_esp32_bundle_is_precompiled_for_xtensawin_with_main_left_as_source(tmp_path: Path) -> None:
    manifest = build_bundle("xtensawin", tmp_path / "x")
    assert manifest["target"] == "xtensawin" and "-march=xtensawin" in manifest["mpy_flags"]
    fw = [e["path"] for e in manifest["files"] if e["path"].startswith("fw/")]
    assert [p for p in fw if not p.endswith(".mpy")] == ["fw/main.py"]
    for p in (p for p in fw if p.endswith(".mpy")):
        assert (tmp_path / "x" / p).read_bytes()[:1] == b"M", p


def test_a_compile_error_names_the_module_and_keeps_the_previous_bundle(
    tmp_path: Path, firmware_src: Path, host_bundle: Path
) -> None:
    out = tmp_path / "bundle"
    shutil.copytree(host_bundle, out)
    before = (out / MANIFEST).read_bytes()
    src = tmp_path / "broken"
    shutil.copytree(firmware_src, src)
    (src / "connector.py").write_text("def broken(:\n")
    with pytest.raises(BuildError, match="connector.py"):
        build_bundle("host", out, src=src)
    assert (out / MANIFEST).read_bytes() == before


def test_host_bundle_runs_the_firmware_which_boots_against_the_backend(
    host_bundle: Path, backend: BackendProc, tmp_path: Path
) -> None:
    sid = new_id()
    backend.add_station(sid, "bundle-pw")
    plant = ThreadedPlant()
    try:
        with Dut(
            tmp_path / "data",
            station_json(sid, backend.ocpp_url, "bundle-pw", plant.address),
            fw_dir=host_bundle / "fw",
            heap="128k",
        ) as dut:
            dut.wait_for(r"BOOT id=" + sid, timeout=20)
            dut.wait_for(r"CONNECTED", timeout=30)
        assert (
            backend.station(sid)["connection"]["connected"] or backend.station(sid)["connection"]["last_seen"]
        )
    finally:
        plant.close()
