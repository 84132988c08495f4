# Persisted configuration and OCPP 1.6 Get/ChangeConfiguration semantics (runs in MicroPython).
import json

import fsutil
import ocpp_keys
from config import Config
from journal_files import fresh, write

CORE = (
    "AllowOfflineTxForUnknownId", "AuthorizationCacheEnabled", "AuthorizeRemoteTxRequests",
    "ClockAlignedDataInterval", "ConnectionTimeOut", "GetConfigurationMaxKeys", "HeartbeatInterval",
    "LocalAuthorizeOffline", "LocalPreAuthorize", "MeterValuesAlignedData", "MeterValuesSampledData",
    "MeterValueSampleInterval", "NumberOfConnectors", "ResetRetries", "ConnectorPhaseRotation",
    "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
    "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect", "WebSocketPingInterval",
    "LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
    "AuthorizationCacheMaxEntries",
)


class Log:
    def __init__(self):
        self.lines = []

    def log(self, level, msg):
        self.lines.append((level, msg))


def _fresh(name):
    fresh(name, name + ".tmp", name + ".corrupt")
    return name


def _read(name):
    with open(name) as f:
        return json.load(f)


def test_factory_defaults_suit_a_public_ac_charger():
    c = Config(_fresh("d.json"), Log())
    assert c.get("MeterValueSampleInterval") == 60
    assert c.get("HeartbeatInterval") == 300
    assert c.get("MeterValuesSampledData") == "Energy.Active.Import.Register,Power.Active.Import"
    assert c.get("LocalAuthorizeOffline") is True
    assert c.get("LocalPreAuthorize") is False
    assert c.get("AllowOfflineTxForUnknownId") is False
    assert c.get("AuthorizationCacheEnabled") is True
    assert c.get("StopTransactionOnEVSideDisconnect") is True
    assert c.get("esp32_pins")["contactor"] == 26
    assert not fsutil.exists("d.json")  # nothing written until something changes


def test_every_core_and_local_list_key_has_a_valid_default():
    names = ocpp_keys.names()
    for name in CORE:
        assert name in names, name
    for name in names:
        assert ocpp_keys.valid(name, ocpp_keys.spec(name)[1]), name
    assert ocpp_keys.spec("GetConfigurationMaxKeys")[1] >= len(names)


def test_partial_file_from_installer_overrides_only_its_keys():
    write(_fresh("p.json"), b'{"MeterValueSampleInterval": 2}')
    c = Config("p.json", Log())
    assert c.get("MeterValueSampleInterval") == 2
    assert c.get("HeartbeatInterval") == 300


def test_set_is_persisted_and_survives_reboot():
    c = Config(_fresh("s.json"), Log())
    c.set("HeartbeatInterval", 120)
    c.set("esp32_pins", {"cp_adc": 34, "cp_pwm": 25, "contactor": 26, "lock": 27,
                         "uart_tx": 17, "uart_rx": 16, "rs485_de": 4})
    assert _read("s.json")["HeartbeatInterval"] == 120
    c2 = Config("s.json", Log())
    assert c2.get("HeartbeatInterval") == 120 and c2.get("esp32_pins")["cp_adc"] == 34
    assert not fsutil.exists("s.json.tmp")


def test_availability_survives_reboot_as_an_internal_key():
    c = Config(_fresh("av.json"), Log())
    assert c.get("Operative") is True
    c.set("Operative", False)
    assert Config("av.json", Log()).get("Operative") is False
    rows, unknown = c.ocpp_get(["Operative"])
    assert rows == [] and unknown == ["Operative"]


def test_set_refuses_wrong_types_and_keeps_the_old_value():
    c = Config(_fresh("w.json"), Log())
    for key, value in (("HeartbeatInterval", "60"), ("HeartbeatInterval", True),
                       ("LocalPreAuthorize", 1), ("MeterValueSampleInterval", -1),
                       ("esp32_pins", 5), ("Operative", 0), ("NoSuchKey", 1)):
        try:
            c.set(key, value)
            raise AssertionError("accepted %s=%r" % (key, value))
        except (ValueError, KeyError):
            pass
    assert c.get("HeartbeatInterval") == 300


def test_save_goes_through_a_tmp_file_and_rename():
    name = _fresh("a.json")
    c = Config(name, Log())
    c.set("HeartbeatInterval", 10)
    real = fsutil.rename
    seen = []

    def spy(src, dst):
        with open(src) as f:
            seen.append((src, dst, json.load(f)["HeartbeatInterval"]))
        real(src, dst)

    fsutil.rename = spy
    try:
        c.set("HeartbeatInterval", 20)
    finally:
        fsutil.rename = real
    assert seen == [("a.json.tmp", "a.json", 20)]


def test_power_cut_before_rename_keeps_the_previous_config():
    name = _fresh("r.json")
    c = Config(name, Log())
    c.set("HeartbeatInterval", 10)
    real = fsutil.rename

    def cut(src, dst):
        raise OSError(5)

    fsutil.rename = cut
    try:
        c.set("HeartbeatInterval", 20)
        raise AssertionError("rename did not fail")
    except OSError:
        pass
    finally:
        fsutil.rename = real
    assert c.get("HeartbeatInterval") == 10  # the failed change is not half-applied in RAM
    assert fsutil.exists("r.json.tmp")
    c2 = Config(name, Log())
    assert c2.get("HeartbeatInterval") == 10
    assert not fsutil.exists("r.json.tmp")


def test_leftover_tmp_is_removed_at_boot():
    name = _fresh("l.json")
    write(name, b'{"HeartbeatInterval": 11}')
    write(name + ".tmp", b'{"HeartbeatInt')
    log = Log()
    c = Config(name, log)
    assert c.get("HeartbeatInterval") == 11 and not fsutil.exists(name + ".tmp") and not log.lines


def test_complete_tmp_without_config_after_fat_rename_cut_is_used():
    name = _fresh("f.json")
    write(name + ".tmp", b'{"HeartbeatInterval": 12}')
    c = Config(name, Log())
    assert c.get("HeartbeatInterval") == 12 and fsutil.exists(name)


def test_half_written_tmp_without_config_is_dropped_quietly():
    name = _fresh("h.json")
    write(name + ".tmp", b'{"HeartbeatInt')
    log = Log()
    c = Config(name, log)
    assert c.get("HeartbeatInterval") == 300 and not fsutil.exists(name + ".tmp")
    assert not log.lines


def _corrupt_case(name, content):
    write(_fresh(name), content)
    log = Log()
    c = Config(name, log)
    assert c.get("HeartbeatInterval") == 300, content
    assert not fsutil.exists(name)
    with open(name + ".corrupt", "rb") as f:
        assert f.read() == content  # kept aside for a post-mortem
    assert len(log.lines) == 1 and log.lines[0][0] == "ERROR", log.lines
    c.set("HeartbeatInterval", 30)
    assert Config(name, Log()).get("HeartbeatInterval") == 30


def test_corrupt_file_is_kept_aside_defaults_load_and_error_is_logged():
    _corrupt_case("c1.json", b'{"HeartbeatInterval": 12')
    _corrupt_case("c2.json", b"[1, 2, 3]")
    _corrupt_case("c3.json", b'{"HeartbeatInterval": "often"}')
    _corrupt_case("c4.json", b'{"LocalPreAuthorize": 1}')
    _corrupt_case("c5.json", b'{"HeartbeatInterval": -5}')
    _corrupt_case("c6.json", b"\xff\xfe\x00garbage")
    _corrupt_case("c7.json", b"")


def test_get_configuration_lists_all_keys_with_text_values():
    c = Config(_fresh("g.json"), Log())
    rows, unknown = c.ocpp_get([])
    assert unknown == []
    byname = {}
    for r in rows:
        byname[r["key"]] = r
    for name in CORE:
        assert name in byname, name
        assert isinstance(byname[name]["value"], str)
    assert byname["LocalAuthorizeOffline"]["value"] == "true"
    assert byname["LocalPreAuthorize"]["value"] == "false"
    assert byname["HeartbeatInterval"]["value"] == "300"
    assert byname["NumberOfConnectors"]["readonly"] is True
    assert byname["HeartbeatInterval"]["readonly"] is False
    assert "esp32_pins" not in byname


def test_get_configuration_as_json_bytes_says_the_same_as_the_rows():
    c = Config(_fresh("gj.json"), Log())
    c.set("HeartbeatInterval", 77)
    for keys in ([], ["HeartbeatInterval", "FooBar", "supportedfeatureprofiles"], ["Operative"]):
        rows, unknown = c.ocpp_get(keys)
        want = {"configurationKey": rows}
        if unknown:
            want["unknownKey"] = unknown
        assert json.loads(c.ocpp_get_json(keys)) == want, keys


def test_get_configuration_reports_unknown_keys():
    c = Config(_fresh("gu.json"), Log())
    rows, unknown = c.ocpp_get(["HeartbeatInterval", "FooBar", "heartbeatinterval"])
    assert [r["key"] for r in rows] == ["HeartbeatInterval", "HeartbeatInterval"]
    assert unknown == ["FooBar"]


def test_change_configuration_accepts_valid_values_and_persists_them():
    c = Config(_fresh("ch.json"), Log())
    assert c.ocpp_change("HeartbeatInterval", "90") == "Accepted"
    assert c.ocpp_change("LocalPreAuthorize", "TRUE") == "Accepted"
    assert c.ocpp_change("MeterValuesSampledData", "Power.Active.Import, Energy.Active.Import.Register") \
        == "Accepted"
    assert c.ocpp_change("StopTxnAlignedData", "") == "Accepted"
    assert c.ocpp_change("ConnectorPhaseRotation", "0.RST,1.RTS") == "Accepted"
    c2 = Config("ch.json", Log())
    assert c2.get("HeartbeatInterval") == 90
    assert c2.get("LocalPreAuthorize") is True
    assert c2.get("MeterValuesSampledData") == "Power.Active.Import,Energy.Active.Import.Register"
    assert c2.get("StopTxnAlignedData") == ""


def test_change_configuration_refuses_read_only_keys():
    c = Config(_fresh("ro.json"), Log())
    for key in ("NumberOfConnectors", "SupportedFeatureProfiles", "GetConfigurationMaxKeys",
                "LocalAuthListMaxLength", "SendLocalListMaxLength", "MeterValuesSampledDataMaxLength"):
        assert c.ocpp_change(key, "3") == "Rejected", key
    assert c.get("NumberOfConnectors") == 1
    assert not fsutil.exists("ro.json")


def test_change_configuration_refuses_bad_values():
    c = Config(_fresh("bv.json"), Log())
    for key, value in (("HeartbeatInterval", "abc"), ("HeartbeatInterval", "1.5"),
                       ("HeartbeatInterval", ""), ("HeartbeatInterval", "-1"),
                       ("HeartbeatInterval", "99999999"), ("MeterValueSampleInterval", "0x10"),
                       ("LocalPreAuthorize", "yes"), ("LocalPreAuthorize", "1"),
                       ("MeterValuesSampledData", "Energy.Active.Import.Register,Banana"),
                       ("MeterValuesSampledData", "Power.Factor"),
                       ("MeterValuesSampledData", ",".join(["Power.Active.Import"] * 5)),
                       ("ConnectorPhaseRotation", "1.XYZ"), ("ConnectorPhaseRotation", "RST"),
                       ("ConnectionTimeOut", "0"), ("HeartbeatInterval", "1" * 600)):
        assert c.ocpp_change(key, value) == "Rejected", (key, value)
    assert c.ocpp_change("HeartbeatInterval", None) == "Rejected"
    assert c.get("HeartbeatInterval") == 300
    assert c.get("MeterValuesSampledData") == "Energy.Active.Import.Register,Power.Active.Import"


def test_change_configuration_of_unknown_key_is_not_supported():
    c = Config(_fresh("un.json"), Log())
    assert c.ocpp_change("ConnectorSwitch3to1PhaseSupported", "true") == "NotSupported"
    assert c.ocpp_change("esp32_pins", "{}") == "NotSupported"


def test_change_configuration_that_needs_a_reboot_says_so():
    c = Config(_fresh("rb.json"), Log())
    assert c.ocpp_change("WebSocketPingInterval", "30") == "RebootRequired"
    assert c.ocpp_change("AuthorizationCacheMaxEntries", "10") == "RebootRequired"
    assert Config("rb.json", Log()).get("WebSocketPingInterval") == 30


def test_change_configuration_key_names_are_case_insensitive():
    c = Config(_fresh("ci.json"), Log())
    assert c.ocpp_change("heartbeatinterval", "45") == "Accepted"
    assert c.get("HeartbeatInterval") == 45


def test_log_may_be_a_function_or_the_log_module():
    lines = []
    write(_fresh("lf.json"), b"nonsense")
    Config("lf.json", lambda level, msg: lines.append(level))
    assert lines == ["ERROR"]
