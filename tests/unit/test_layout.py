"""The layout issue 14 asked for, kept true: one frame size, one Address type, control modules
that use the engine's named interface, and the public names still importable from srpfast."""
from __future__ import annotations

import io
import pathlib
import re
import tokenize

import srpfast
from srpfast.crypto import _seal
from srpfast.wire import _frame, constants

ROOT = pathlib.Path(srpfast.__file__).parent


def test_one_frame_size() -> None:
    assert _frame.PACKET_BYTES == constants.PACKET_BYTES == _seal.PACKET_BYTES == 1158
    literal = []
    for path in ROOT.rglob("*.py"):
        if path.name == "constants.py":
            continue
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if tok.type == tokenize.NUMBER and tok.string == "1158":
                literal.append(f"{path.relative_to(ROOT)}:{tok.start[0]}")
    assert literal == [], "use srpfast.wire.constants.PACKET_BYTES, not 1158"


def test_one_address_type() -> None:
    again = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py*")
             if p.suffix in (".py", ".pyi") and p.name != "address.py"
             and re.search(r"^Address\s*=", p.read_text(), re.M)]
    assert again == [], "import Address from srpfast.wire.address"


def test_control_modules_use_the_named_engine_interface() -> None:
    private = []
    for path in (ROOT / "control").glob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(self\.p|p|peer)\._[a-z]", line):
                private.append(f"{path.name}:{n}: {line.strip()}")
    assert private == []


def test_layers_have_folders_and_public_names_stay() -> None:
    for folder in ("wire", "crypto", "control", "dataplane", "drivers", "lab", "sim"):
        assert (ROOT / folder / "__init__.py").exists(), folder
    stray = sorted(p.name for p in ROOT.glob("_*.pyx"))
    assert stray == [], f"Cython modules belong in their layer's folder: {stray}"
    for name in srpfast.__all__:
        assert getattr(srpfast, name) is not None
    from srpfast.api import RemotePeer
    from srpfast.control.peers import PeerEntry
    assert RemotePeer.__name__ != PeerEntry.__name__
