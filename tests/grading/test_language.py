"""Whether an answer reads as English, by the embedding model's own vocabulary."""

from __future__ import annotations

import pytest

from rag.grading.language import ENGLISH_SHARE, MIN_WORDS, english_share, looks_english

FOREIGN = [
    "Sicherheitsgruppen sind zustandsbehaftet, daher wird der Rückverkehr automatisch erlaubt. "
    "Netzwerk-ACLs sind zustandslos und gelten für ganze Subnetze.",
    "Los grupos de seguridad tienen estado, así que el tráfico de retorno se permite automáticamente; "
    "las ACL de red no tienen estado.",
    "Les groupes de sécurité sont avec état, donc le trafic de retour est autorisé automatiquement.",
    "セキュリティグループはステートフルで、戻りのトラフィックは自動的に許可されます。",
    "安全组是有状态的，因此返回流量会被自动允许，而网络访问控制列表是无状态的。",
    "Группы безопасности отслеживают состояние, поэтому обратный трафик разрешается автоматически.",
]


@pytest.mark.parametrize("answer", FOREIGN)
def test_answers_in_other_languages_do_not_read_as_english(answer: str):
    assert not looks_english(answer)


@pytest.mark.parametrize(
    "answer",
    [
        "Security groups are stateful, so return traffic is allowed automatically, unlike NACLs.",
        "SG stateful, NACL stateless; SG = allow only, NACL = allow + deny, evaluated in rule-number order",
        "stateful stateless return traffic allow deny subnet instance interface rule number order first match",
        "Authz: IAM, Cognito, Lambda authorizer; native JWT authorizer on HTTP APIs.",
        "Ja",
    ],
)
def test_english_prose_notes_lists_and_short_answers_read_as_english(answer: str):
    assert looks_english(answer)


def test_every_written_statement_of_the_bank_reads_as_english(bank_statements):
    texts = bank_statements
    judged = [english_share(t) for t in texts if english_share(t)[1] >= MIN_WORDS]
    assert len(judged) > 1000
    assert min(share for share, _ in judged) >= ENGLISH_SHARE
