"""jsonsafe: parse the JSON of a model file (config.json, metadata.json, an .h5's model_config) so
that a hostile document gives a one-line ConversionError, never a RecursionError deep inside kerasc.

Keras configs nest about 10 levels (a Bidirectional's layer's dtype policy); MAX_JSON_DEPTH leaves
ample room and keeps every later recursive walk far from Python's recursion limit."""

from __future__ import annotations

import json
from typing import Any, Union

from .errors import ConversionError

MAX_JSON_DEPTH = 100


def parse_json(raw: Union[str, bytes], where: str) -> Any:
    """json.loads(raw), refusing invalid JSON and documents nested deeper than MAX_JSON_DEPTH."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{where} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ConversionError(f"{where} nests deeper than {MAX_JSON_DEPTH} levels; kerasc reads at most "
                              f"{MAX_JSON_DEPTH}") from None
    check_depth(doc, where)
    return doc


def check_depth(doc: Any, where: str) -> None:
    """Refuse a JSON value nested deeper than MAX_JSON_DEPTH (an iterative walk: no recursion)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise ConversionError(f"{where} nests deeper than {MAX_JSON_DEPTH} levels; kerasc reads at most "
                                  f"{MAX_JSON_DEPTH}")
        stack.extend((c, depth + 1) for c in children)
