"""Quantization type names as users write them (ai-toolkit's spellings included).

    resolve_qtype("int8") -> QType(name="int8", backend="torchao", weights="int8")

Served:
- every optimum-quanto weight type: ``qint2``, ``qint4``, ``qint8``, ``qfloat8``,
  ``qfloat8_e4m3fn``, ``qfloat8_e4m3fnuz``, ``qfloat8_e5m2``;
- torchao weight-only int8 and float8, spelled ``int8``/``float8`` (ai-toolkit) or
  ``torchao_int8``/``torchao_float8``;
- ai-toolkit's ``uint2`` … ``uint8``: asymmetric N-bit weight-only quantization in groups
  of 64 (torchao's UIntX default; per output row when a layer's width is not a multiple of 64). ai-toolkit runs
  these through its own copy of torchao's old UIntX config; torchao 0.18 (our pin) serves
  the same grid (2^N levels, a scale and zero point per group) through
  ``IntxWeightOnlyConfig``. It keeps each weight in one byte, so N < 8 saves no more memory
  than int8 here; the values, and so the quality, are those of N bits.

- ai-toolkit's ``convrot8`` (its own rotated 8-bit integer backend, the default of its
  LTX-2.5 UI) is served as optimum-quanto ``qint8``: the same 8-bit integer weights without
  the rotation, so a stock LTX-2.5 config trains unchanged; the adapter says so in the log.

Refused with one message that lists the served names and the nearest one: ``orbit2`` …
``orbit4`` (ai-toolkit-only backends), and ``<qtype>|<adapter file>``
(a quantization plus an accuracy-recovery adapter, which this trainer does not load).
Kept free of torch imports so the config schema can check names in well under a second.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class QType:
    """A served quantization type: the name as written, its backend and weight format."""

    name: str
    backend: str  # "quanto" or "torchao"
    weights: str  # quanto: its qtype attribute name; torchao: "int8", "float8" or "uint2".."uint8"


_QUANTO = ("qfloat8", "qint8", "qint4", "qint2", "qfloat8_e4m3fn", "qfloat8_e4m3fnuz", "qfloat8_e5m2")
_TORCHAO = {"int8": "int8", "float8": "float8", "torchao_int8": "int8", "torchao_float8": "float8",
            **{f"uint{n}": f"uint{n}" for n in range(2, 9)}}

QTYPES: dict[str, QType] = {
    **{name: QType(name, "quanto", name) for name in _QUANTO},
    **{name: QType(name, "torchao", weights) for name, weights in _TORCHAO.items()},
    "convrot8": QType("convrot8", "quanto", "qint8"),
}
QTYPE_NAMES: tuple[str, ...] = tuple(QTYPES)

# ai-toolkit names this trainer knows of but cannot serve, why, and what to use instead.
_UNSERVED = {f"orbit{n}": "an ai-toolkit-only quantization backend" for n in (2, 3, 4)}
_INSTEAD = {"orbit2": "uint2", "orbit3": "uint3", "orbit4": "uint4"}


def qtype_error(value: str) -> str | None:
    """None when ``value`` is a served name, else the message for the user."""
    name = value.strip().lower()
    if name in QTYPES:
        return None
    served = ", ".join(QTYPE_NAMES)
    base, sep, adapter = name.partition("|")
    if sep:
        return (f"('{value}') pairs {base} with the accuracy-recovery adapter {adapter}, which this "
                f"trainer does not load; use a plain type such as {base if base in QTYPES else 'qfloat8'} "
                f"(served: {served})")
    if name in _UNSERVED:
        return (f"('{value}') is {_UNSERVED[name]}; the nearest served type is '{_INSTEAD[name]}' "
                f"(served: {served})")
    close = difflib.get_close_matches(name, QTYPE_NAMES, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"('{value}') is not a quantization type this trainer serves (served: {served}){hint}"


def resolve_qtype(value: str) -> QType:
    """The served QType of ``value`` (any case); ValueError with the user message otherwise."""
    problem = qtype_error(value)
    if problem:
        raise ValueError(problem)
    return QTYPES[value.strip().lower()]
