"""Reading structured replies: a JSON object anywhere in the text, validated by pydantic.

Models wrap JSON in prose or code fences; scanning for each ``{`` and letting the JSON
decoder find where the object ends copes with both, where matching line prefixes
("1.", "- ", "DIRECTIVE:") breaks on the first change of style.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_decoder = json.JSONDecoder()


def parse_reply(text: str, model: type[M]) -> M | None:
    """The first JSON object in ``text`` that validates as ``model``, or None."""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = _decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pass
        else:
            try:
                return model.model_validate(value)
            except ValidationError:
                pass
        start = text.find("{", start + 1)
    return None
