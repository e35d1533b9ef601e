#!/usr/bin/env python3
"""Write docs/API.md, the API reference, from the public names' signatures and docstrings
(and Config's fields with their defaults and comments). `make docs` runs it; a test checks
that docs/API.md is what it writes, so the reference never drifts from the code.

    python tools/gen_api_doc.py [--check]
"""
from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import srpfast  # noqa: E402
from srpfast import api, api_events, errors  # noqa: E402
from srpfast.config import Config  # noqa: E402

OUT = os.path.join(ROOT, "docs", "API.md")


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _sig(fn: object) -> str:
    try:
        return str(inspect.signature(fn))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _members(cls: type) -> list[str]:
    out = []
    for name, member in cls.__dict__.items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out.append(f"- `{name}` (property): {_doc(member) or ''}".rstrip(": "))
        elif inspect.isfunction(member):
            prefix = "async " if inspect.iscoroutinefunction(member) or \
                inspect.isasyncgenfunction(member) else ""
            doc = _doc(member)
            out.append(f"- `{prefix}{name}{_sig(member)}`" + (f": {doc}" if doc else ""))
    return out


def _config_rows() -> list[str]:
    src = inspect.getsource(Config)
    notes = {}
    for line in src.splitlines():
        m = re.match(r"\s+(\w+): [^=]+=\s*[^#]*#\s*(.*)$", line)
        if m:
            notes[m.group(1)] = m.group(2).strip()
    rows = ["| field | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Config):
        default = f.default
        rows.append(f"| `{f.name}` | `{default!r}` | {notes.get(f.name, '')} |")
    return rows


def render() -> str:
    parts = ["# API reference", "",
             "Generated from the code by `tools/gen_api_doc.py` (`make docs`); do not edit by "
             "hand. The user guide is the README and docs/EVENTS.md; the wire format is "
             "docs/PROTOCOL.md.", ""]
    parts += ["## `srpfast.network`", "", f"`network{_sig(api.network)}`", "",
              _doc(api.network), ""]
    for cls in (api.Emitter, api.Network, api.Subcluster, api.RemotePeer, api.Meta):
        parts += [f"## `srpfast.{cls.__name__}`", "", _doc(cls), ""] + _members(cls) + [""]
    parts += ["## Events (`srpfast.api_events`)", ""]
    for name in sorted(n for n in dir(api_events) if n.endswith(("Event", "Info"))):
        cls = getattr(api_events, name)
        if not dataclasses.is_dataclass(cls):
            continue
        fields = ", ".join(f.name for f in dataclasses.fields(cls))
        parts += [f"### `{name}({fields})`", "", _doc(cls), ""]
    parts += ["## Errors (`srpfast.errors`)", ""]
    for name in sorted(n for n in dir(errors) if n.endswith("Error") or n == "MalformedPacket"):
        cls = getattr(errors, name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            bases = ", ".join(b.__name__ for b in cls.__bases__)
            parts += [f"- `{name}({bases})`: {_doc(cls)}"]
    parts += ["", "## `srpfast.Config`", "", _doc(Config), ""] + _config_rows() + [""]
    parts += ["## Identities and keys", ""]
    for name in ("create_identity", "load_identity", "save_identity", "create_cluster_id",
                 "create_shared_key", "subcluster_id"):
        fn = getattr(srpfast, name)
        parts += [f"- `{name}{_sig(fn)}`: {_doc(fn)}"]
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        with open(OUT) as f:
            if f.read() != text:
                print("docs/API.md is stale: run `make docs`", file=sys.stderr)
                return 1
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
