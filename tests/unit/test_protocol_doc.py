"""docs/PROTOCOL.md must describe the bodies the codec really encodes (keep docs/ true)."""
import pathlib

import pytest

from srpfast.wire import bodies as b
DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md").read_text()


@pytest.mark.parametrize("cls", [b.Ping, b.Pong, b.Intro, b.Join, b.Query, b.Sync])
def test_body_table_matches_codec(cls):
    section = DOC.split(f"### {cls.__name__.upper()} (type {cls.TYPE}", 1)[1].split("###", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    documented = [tuple(c.strip() for c in line.strip("|").split("|")) for line in rows[1:]]
    assert documented == [(str(o), str(n), f) for o, n, f in b.layout_table(cls)]


def test_frame_offsets_match_c_header():
    header = (pathlib.Path(__file__).resolve().parents[2] / "csrc" / "frame.h").read_text()
    for name, offset in [("TYPE", 4), ("HOPS", 6), ("FLAGS", 7), ("CLOCK", 8), ("INDEX", 12),
                         ("LENGTH", 14), ("TTL", 16), ("POSTAGE", 20), ("CLUSTER", 22),
                         ("TO", 38), ("PREVIOUS", 70), ("NEXT", 102), ("MESSAGE", 134)]:
        assert f"#define SRP_OFF_{name} {offset}\n" in header
        assert f"| {offset} |" in DOC
