"""The codec: CRC check, lenient parsing, serializer and replies, on the standard's examples."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.hj212.crc import modbus_crc
from adapters.hj212.framing import FrameEvent, check_frame, split_stream
from adapters.hj212.packet import (
    CodecError,
    Packet,
    build_ack,
    build_data_segment,
    build_frame,
    build_qn_rtn,
    check_crc,
    parse_data_segment,
)
from tests.adapters.hj212.conftest import fixture_path

# hj212.md §1.8, one line each (CRLF added by frame())
EXAMPLE_1 = "##0379QN=20250615103000123;ST=21;CN=2011;PW=123456;MN=4C4948453030313630303031;Flag=5;CP=&&DataTime=20250615103000;w01001-Rtd=7.86,w01001-Flag=N;w01009-Rtd=8.42,w01009-Flag=N;w01010-Rtd=18.6,w01010-Flag=N;w01014-Rtd=612,w01014-Flag=N;w01003-Rtd=14.2,w01003-Flag=N;w01019-Rtd=5.1,w01019-Flag=N;w21003-Rtd=0.38,w21003-Flag=N;w21011-Rtd=0.061,w21011-Flag=N;w21001-Rtd=1.42,w21001-Flag=C&&9901"  # noqa: E501
EXAMPLE_2 = "##0533QN=20250115090000001;ST=22;CN=2061;PW=123456;MN=4C4948453030323230303031;Flag=4;CP=&&DataTime=20250115080000;a34004-Avg=38,a34004-Min=31,a34004-Max=47,a34004-Flag=N;a34002-Avg=61,a34002-Min=52,a34002-Max=75,a34002-Flag=N;a21026-Avg=24,a21026-Min=19,a21026-Max=30,a21026-Flag=N;a21004-Avg=57,a21004-Min=44,a21004-Max=71,a21004-Flag=N;a21005-Avg=1.32,a21005-Min=1.10,a21005-Max=1.58,a21005-Flag=N;a05024-Avg=18,a05024-Min=11,a05024-Max=26,a05024-Flag=N;a01001-Avg=-21.4,a01002-Avg=78.0,a01006-Avg=98.120,a01007-Avg=3.2,a01008-Avg=225&&0CC0"  # noqa: E501
EXAMPLE_3A = "##0279QN=20250615110000001;ST=32;CN=2051;PW=123456;MN=4C4948453030333230303031;Flag=7;PNUM=2;PNO=1;CP=&&DataTime=20250615105000;w00000-Cou=36.5,w00000-Min=55.2,w00000-Avg=60.8,w00000-Max=66.1,w00000-Flag=N;w01018-Cou=1.46,w01018-Min=38.0,w01018-Avg=40.1,w01018-Max=42.7,w01018-Flag=N&&8BC1"  # noqa: E501
EXAMPLE_3B = "##0277QN=20250615110000002;ST=32;CN=2051;PW=123456;MN=4C4948453030333230303031;Flag=7;PNUM=2;PNO=2;CP=&&DataTime=20250615105000;w21003-Cou=0.09,w21003-Min=2.31,w21003-Avg=2.47,w21003-Max=2.66,w21003-Flag=N;w20117-Cou=0.088,w20117-Min=2.1,w20117-Avg=2.4,w20117-Max=2.9,w20117-Flag=N&&2340"  # noqa: E501
EXAMPLE_3_ACK = "##0087QN=20250615110000001;ST=91;CN=9014;PW=123456;MN=4C4948453030333230303031;Flag=4;CP=&&&&21C0"  # noqa: E501
EXAMPLES = [EXAMPLE_1, EXAMPLE_2, EXAMPLE_3A, EXAMPLE_3B, EXAMPLE_3_ACK]


def frame(line: str) -> FrameEvent:
    event = check_frame(line.encode() + b"\r\n")
    assert isinstance(event, FrameEvent), event
    return event


def parse(text: str) -> Packet:
    return parse_data_segment(text.encode("utf-8"))


@pytest.mark.parametrize("line", EXAMPLES, ids=["1", "2", "3a", "3b", "3-ack"])
def test_examples_check_and_rebuild(line: str) -> None:
    event = frame(line)
    assert check_crc(event) == "hj212"
    # The serializer reproduces the example byte for byte.
    assert build_frame(event.data.decode()) == event.raw


def test_example_1_fields() -> None:
    packet = parse_data_segment(frame(EXAMPLE_1).data)
    assert (packet.qn, packet.st, packet.cn, packet.pw) == (
        "20250615103000123",
        "21",
        "2011",
        "123456",
    )
    assert packet.mn == "4C4948453030313630303031"
    assert (packet.flag, packet.version, packet.ack_requested, packet.split) == (5, 1, True, False)
    assert packet.data_time == "20250615103000"
    assert list(packet.cp)[:3] == ["DataTime", "w01001-Rtd", "w01001-Flag"]
    groups = packet.factor_groups()
    assert len(groups) == 9
    assert groups["w21001"] == {"Rtd": "1.42", "Flag": "C"}
    assert packet.warnings == ()


def test_example_3_split_fields_and_ack() -> None:
    packet = parse_data_segment(frame(EXAMPLE_3A).data)
    assert (packet.flag, packet.split, packet.ack_requested) == (7, True, True)
    assert (packet.pnum, packet.pno) == (2, 1)
    assert packet.factor_groups()["w00000"]["Cou"] == "36.5"
    assert build_ack(packet) == EXAMPLE_3_ACK.encode() + b"\r\n"


def test_ack_without_qn_and_qn_rtn() -> None:
    packet = parse("ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817&&")
    assert build_ack(packet) == build_frame(
        "ST=91;CN=9014;PW=123456;MN=LD130133000015;Flag=4;CP=&&&&"
    )
    reply = parse_data_segment(frame(build_qn_rtn(packet, 4).decode()[:-2]).data)
    assert (reply.cn, reply.st, reply.flag, reply.cp) == ("9011", "91", 4, {"QnRtn": "4"})


def test_crc_case_and_modbus_opt_in() -> None:
    lower = frame(EXAMPLE_1[:-4] + "9901".lower())
    assert check_crc(lower) == "hj212"
    data = frame(EXAMPLE_1).data
    modbus = frame(EXAMPLE_1[:-4] + f"{modbus_crc(data):04x}")
    with pytest.raises(CodecError) as error:
        check_crc(modbus)
    assert error.value.code == "checksum"
    assert check_crc(modbus, allow_modbus=True) == "modbus"
    with pytest.raises(CodecError, match="CRC mismatch: frame carries '0000', data segment gives"):
        check_crc(frame(EXAMPLE_1[:-4] + "0000"), allow_modbus=True)


def test_standard_typos_are_tolerated_and_recorded() -> None:
    packet = parse(
        "QN=20160801085857534,ST=32;CN=2011;PW=100000;MN=010000A8900016F000169DC0;Flag=5"
        "CP=&&DataTime=20160801084000;01018-Rtd=50.2,01018-Flag=N&&"
    )
    assert (packet.qn, packet.st, packet.flag) == ("20160801085857534", "32", 5)
    assert packet.factor_groups() == {"01018": {"Rtd": "50.2", "Flag": "N"}}
    assert len(packet.warnings) == 3
    assert any("','" in w for w in packet.warnings)
    assert any("missing ';' before CP" in w for w in packet.warnings)
    assert any("'01018' lacks its letter prefix" in w for w in packet.warnings)


def test_legacy_2005_packet() -> None:
    packet = parse(
        "ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817000;"
        "B01-Rtd=36.91;011-Rtd=231.0;011-Flag=N;060-Rtd=1.803;060-Flag=N&&"
    )
    assert packet.qn is None and packet.flag is None and packet.version is None
    assert not packet.ack_requested and not packet.split
    assert packet.factor_groups() == {
        "B01": {"Rtd": "36.91"},
        "011": {"Rtd": "231.0", "Flag": "N"},
        "060": {"Rtd": "1.803", "Flag": "N"},
    }
    assert packet.warnings == ()


def test_lenient_cp() -> None:
    packet = parse(
        "MN=X1;ST=Z9;CN=4242;Flag=8;CP=&&a=1;a=2;b=x=y;;c=&&d=e&&",
    )
    assert packet.cp == {"a": "2", "b": "x=y", "c": "&&d=e"}  # last '&&' closes CP
    assert packet.version == 2  # Flag=8 seen in the wild: unknown version, accepted
    assert packet.warnings == ("duplicate CP key 'a', last kept",)
    assert parse("MN=X;CP=&&&&").cp == {}
    assert parse("MN=X;PW=ab,cd;CP=&&&&").pw == "ab,cd"  # a comma inside a value stays


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MN=X;CP=&&a=\xc4\xe3\xba\xc3&&", "not UTF-8"),  # GBK
        (b"MN=X;ST=22", "no CP data area"),
        (b"MN=X;CP=a=1", "CP not opened by '&&'"),
        (b"MN=X;CP=&&a=1;b=2", "CP not closed by '&&'"),
        (b"QN=1;ST=22;CP=&&a=1&&", "MN missing"),
        (b"MN=;CP=&&a=1&&", "MN empty"),
        (b"MN=X;Flag=A;CP=&&&&", "Flag 'A' is not a small unsigned integer"),
        (b"MN=X;Flag=256;CP=&&&&", "Flag 256 exceeds 255"),
        (b"MN=X;Flag=6;PNO=1;CP=&&&&", "PNUM/PNO missing"),
        (b"MN=X;Flag=6;PNUM=1;PNO=\xd9\xa3;CP=&&&&", "PNO"),  # an Arabic-Indic digit
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message) as error:
        parse_data_segment(data)
    assert error.value.code == "malformed"
    assert "\n" not in error.value.message


def test_nul_bytes_do_not_crash() -> None:
    assert parse_data_segment(b"MN=X\x00;CP=&&a=\x00&&").cp == {"a": "\x00"}


def test_frame_length_counts_utf8_bytes() -> None:
    segment = "MN=X;CN=3020;CP=&&i21001-Info=//日志//&&"
    built = build_frame(segment)
    assert built[2:6] == b"%04d" % len(segment.encode("utf-8"))
    assert len(segment.encode()) > len(segment)
    assert parse_data_segment(frame(built.decode()[:-2]).data).cp["i21001-Info"] == "//日志//"
    with pytest.raises(ValueError, match="limit is 1024"):
        build_frame("MN=X;CP=&&" + "a" * 1016 + "&&")


def test_build_data_segment() -> None:
    header = {"QN": "1", "ST": "22", "MN": "X", "Flag": "4"}
    groups = [{"DataTime": "20250115000000"}, {"a34004-Rtd": "1", "a34004-Flag": "N"}]
    assert (
        build_data_segment(header, groups)
        == "QN=1;ST=22;MN=X;Flag=4;CP=&&DataTime=20250115000000;a34004-Rtd=1,a34004-Flag=N&&"
    )
    assert build_data_segment({}, []) == "CP=&&&&"
    with pytest.raises(ValueError, match="separator"):
        build_data_segment({"MN": "a;b"}, [])
    with pytest.raises(ValueError, match="field name"):
        build_data_segment({"MN": "X"}, [{"a=b": "1"}])


def test_realtime_fixture_codec() -> None:
    """2,304 frames, all with a valid HJ 212 CRC, carrying 23,040 real-time values."""
    events = split_stream(fixture_path("hj212", "pilot-2025-01-15-realtime.hj212").read_bytes())
    assert len(events) == 2304
    assert all(isinstance(event, FrameEvent) for event in events)
    values = 0
    for event in events:
        assert isinstance(event, FrameEvent)
        assert check_crc(event) == "hj212"
        packet = parse_data_segment(event.data)
        assert packet.warnings == ()
        values += sum("Rtd" in group for group in packet.factor_groups().values())
    assert values == 23_040


# --- Properties ------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=400),
        st.lists(
            st.sampled_from(
                [
                    b"QN=1",
                    b"MN=X",
                    b"Flag=7",
                    b"PNUM=2",
                    b"PNO=9",
                    b"CP=&&",
                    b"&&",
                    b";",
                    b",",
                    b"=",
                    b"a-Rtd=1",
                    b"\xff",
                    b"\x00",
                    b"Flag=",
                    b"MN=",
                ]
            ),
            max_size=15,
        ).map(b"".join),
    )
)
def test_any_bytes_parse_or_codec_error(data: bytes) -> None:
    try:
        packet = parse_data_segment(data)
    except CodecError as error:
        assert error.code == "malformed"
        assert "\n" not in error.message
    else:
        assert packet.mn
        packet.factor_groups()


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="=;,&"), min_size=1, max_size=12
)
values = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=";,&"), max_size=12)
header_fields = st.fixed_dictionaries(
    {"MN": st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=24)},
    optional={
        "QN": st.text(alphabet="0123456789", min_size=17, max_size=17),
        "ST": st.sampled_from(["21", "22", "32", "91", "A1"]),
        "CN": st.sampled_from(["2011", "2051", "2061", "2031", "9014"]),
        "PW": st.text(alphabet="abcXYZ0123456789", min_size=6, max_size=6),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    header_fields,
    st.integers(min_value=0, max_value=255),
    st.lists(st.dictionaries(names, values, max_size=4), max_size=5),
)
def test_round_trip(header: dict[str, str], flag: int, groups: list[dict[str, str]]) -> None:
    header = {**header, "Flag": str(flag)}
    if flag & 2:
        header |= {"PNUM": "3", "PNO": "2"}
    keys = [key for group in groups for key in group]
    assume(len(keys) == len(set(keys)))  # duplicates would (rightly) warn
    assume(not any(key[:1].isdigit() for key in keys))  # bare numeric codes warn too
    segment = build_data_segment(header, groups)
    assume(len(segment.encode()) <= 1024)
    event = frame(build_frame(segment).decode()[:-2])
    assert check_crc(event) == "hj212"
    packet = parse_data_segment(event.data)
    assert packet.header == header
    assert packet.cp == {key: value for group in groups for key, value in group.items()}
    assert packet.flag == flag and packet.mn == header["MN"]
    assert packet.warnings == ()
