"""A reference passage: one section of the guide as retrieval returns it and a grade cites it.

Its own module, free of Chroma and the embedding model, so the grading modules can import it at the top and
stay cheap to import (the app shows its first question before the slow parts have loaded).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Passage(BaseModel):
    model_config = ConfigDict(frozen=True)

    section_id: str
    title: str
    topic: str
    text: str
    score: float
    source: str = ""
