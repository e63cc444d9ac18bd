"""`PromptFiles`: the grading data files of one prompts directory, handed from the edge to the graders.

Every loader reads the file it is given and defaults to the one shipped in prompts/; none reads settings.
The edge (the CLI, the app's engine, the evals tools) builds `PromptFiles.from_settings(settings)`, so a
configured `PREP_PROMPTS_DIR` reaches everything a grader reads: the lexicon the matcher and the role reader
use, the rubric and feedback templates that score and phrase a grade, the guard's rules, the LLM prompt and
the price table.

Questions are defined by the shipped lexicon whatever directory grades them: bank hints are checked and
reference answers split into key points with it (`rag.questions`, `rag.grading.derive`), so a variant
lexicon changes how answers are read, never which questions they are read against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rag.datafiles import SHIPPED_PROMPTS_DIR
from rag.grading.base import FEEDBACK_FILE, feedback_templates
from rag.grading.guard import GUARD_FILE, GuardRules, load_guard_rules
from rag.grading.lexicon import LEXICON_FILE, Lexicon, load_lexicon
from rag.grading.llm_log import PRICES_FILE, PriceTable, load_prices
from rag.grading.rubric import RUBRIC_FILE, PromptTemplate, Rubric, load_prompt, load_rubric
from rag.settings import Settings


@dataclass(frozen=True)
class PromptFiles:
    """The data files in `directory`; each is loaded (validated, cached by path) when first asked for."""

    directory: Path = SHIPPED_PROMPTS_DIR

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptFiles:
        return cls(Path(settings.prompts_dir))

    def lexicon(self) -> Lexicon:
        return load_lexicon(self.directory / LEXICON_FILE)

    def rubric(self) -> Rubric:
        return load_rubric(self.directory / RUBRIC_FILE)

    def feedback(self) -> dict:
        return feedback_templates(self.directory / FEEDBACK_FILE)

    def guard_rules(self) -> GuardRules:
        return load_guard_rules(self.directory / GUARD_FILE)

    def prices(self) -> PriceTable:
        return load_prices(self.directory / PRICES_FILE)

    def prompt(self, name: str) -> PromptTemplate:
        return load_prompt(name, self.directory)
