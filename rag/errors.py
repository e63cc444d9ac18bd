"""User-facing errors: each carries one clear line saying what went wrong and what to do."""


class PrepError(Exception):
    """Base class for errors shown to a user as a single line (CLI exit code 2)."""


class ConfigError(PrepError):
    """A setting is missing or invalid."""


class CorpusError(PrepError):
    """The corpus folder or a Markdown file in it cannot be used."""


class QuestionBankError(PrepError):
    """The question bank file is malformed; the message names file, question id and field."""


class ModelIntegrityError(PrepError):
    """The bundled embedding weights are missing or do not match the expected checksum."""


class StoreError(PrepError):
    """The vector store is unreachable or its index is unusable."""


class EmptyQueryError(PrepError):
    """A search query was empty or whitespace only."""


class GradingError(PrepError):
    """Grading could not run at all (as opposed to an "unscored" grade)."""
