import itertools
import re
from pathlib import Path

import pytest

from rag.corpus import chunk_section, load_corpus, parse_markdown
from rag.errors import CorpusError
from rag.settings import PROJECT_ROOT

SEED = PROJECT_ROOT.parent / "shared" / "seed" / "aws-interview-guide.txt"


def test_sections_take_id_and_topic_from_the_comment_line():
    text = "# Title\nintro\n## Security groups\n<!-- id: sg; topic: networking -->\nStateful rules.\n"
    [section] = parse_markdown(text, "guide.md")
    assert (section.id, section.topic, section.title, section.text) == (
        "sg",
        "networking",
        "Security groups",
        "Stateful rules.",
    )


def test_sections_without_metadata_get_ids_from_file_and_heading():
    [section] = parse_markdown("## Our Deploy Process\nWe deploy on Tuesdays.\n", "team/runbook.md")
    assert section.id == "runbook--our-deploy-process"
    assert section.topic == "runbook"


def test_headings_inside_code_fences_do_not_split_sections():
    text = "## Real\nbefore\n```bash\n## not a heading\necho hi\n```\nafter\n"
    [section] = parse_markdown(text, "a.md")
    assert "## not a heading" in section.text and section.text.endswith("after")


def test_chunk_ids_are_stable_and_follow_content():
    [section] = parse_markdown("## A\n<!-- id: a; topic: t -->\nSome text here.\n", "a.md")
    [changed] = parse_markdown("## A\n<!-- id: a; topic: t -->\nOther text here.\n", "a.md")
    assert [c.id for c in chunk_section(section)] == [c.id for c in chunk_section(section)]
    assert chunk_section(section)[0].id != chunk_section(changed)[0].id


def test_long_sections_are_split_into_overlapping_chunks_that_keep_lines():
    body = "\n".join(f"line {i} " + "word " * 20 for i in range(30))
    [section] = parse_markdown(f"## Long\n{body}\n", "a.md")
    chunks = chunk_section(section)
    assert len(chunks) > 2
    assert all(len(c.text.split()) <= 200 for c in chunks)
    assert "\n" in chunks[0].text
    for first, second in itertools.pairwise(chunks):
        assert first.text.splitlines()[-1] in second.text


def test_missing_folder_and_folder_without_markdown_are_clear_errors(tmp_path: Path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("plain text")
    with pytest.raises(CorpusError, match=r"no Markdown \(\*\.md\) files"):
        load_corpus(tmp_path)


def test_duplicate_section_ids_across_files_are_rejected(tmp_path: Path):
    (tmp_path / "a.md").write_text("## One\n<!-- id: dup; topic: t -->\ntext\n")
    (tmp_path / "b.md").write_text("## Two\n<!-- id: dup; topic: t -->\ntext\n")
    with pytest.raises(CorpusError, match=r"'dup' appears in a\.md and b\.md"):
        load_corpus(tmp_path)


def test_non_utf8_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "bad.md").write_bytes(b"## T\n\xff\xfe broken")
    with pytest.raises(CorpusError, match="not valid UTF-8"):
        load_corpus(tmp_path)


def test_aws_guide_has_one_section_per_topic_with_unique_ids():
    sections = load_corpus(PROJECT_ROOT / "corpus")
    ids = [s.id for s in sections]
    assert len(ids) == len(set(ids)) >= 50
    for expected in ("sg-vs-nacl", "kms-envelope-encryption", "dead-letter-queues", "disaster-recovery", "macie"):
        assert expected in ids
    assert all(s.topic and len(s.text.split()) >= 100 for s in sections)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{3,}", text.lower()))


@pytest.mark.skipif(not SEED.exists(), reason="the seed guide is in ../shared, beside the project")
def test_the_guide_carries_the_seed_content():
    guide_words = _words((PROJECT_ROOT / "corpus" / "aws-guide.md").read_text())
    lines = [line for line in SEED.read_text().splitlines() if len(_words(line)) >= 3]
    carried = [line for line in lines if len(_words(line) & guide_words) >= 0.9 * len(_words(line))]
    assert len(carried) / len(lines) >= 0.98, [line for line in lines if line not in carried][:10]


def test_a_section_over_the_size_limit_is_refused_with_what_to_do(tmp_path):
    import pytest

    from rag.corpus import MAX_SECTION_CHARS, load_corpus
    from rag.errors import CorpusError

    (tmp_path / "notes.md").write_text("## Huge\n" + "word " * (MAX_SECTION_CHARS // 4), encoding="utf-8")
    with pytest.raises(CorpusError, match="split it under more '## ' headings"):
        load_corpus(tmp_path)
