"""Task 4's labels from a header's structure, the regex baseline and the scores."""

from __future__ import annotations

from bertcourse.finetuning import header_qa

HEADER = ("From someone@example.com  Mon Sep  2 23:00:06 2002\n"
          "Received: from a.example.com\n\tby b.example.com; Mon, 2 Sep 2002\n"
          "FROM: \"Craig\" <craig@deersoft.com>\n"
          "Subject: Re: bad DCC traffic\n  from e-corp.net\n"
          "To: x@example.com\n")


def test_questions_from_the_first_field_of_each_kind_folding_included():
    context = header_qa.context_of(HEADER)
    assert "Received" not in context and "b.example.com" not in context
    found = {q.field: q for q in header_qa.questions_of("e1", context)}
    assert set(found) == {"From", "Subject"}  # no Date field: no question
    assert found["From"].answer == '"Craig" <craig@deersoft.com>'  # not the mbox "From " line
    assert found["Subject"].answer == "Re: bad DCC traffic\n  from e-corp.net"
    for q in found.values():
        assert q.context[q.start:q.end] == q.answer


def test_regex_baseline_reads_one_line_as_written():
    questions = header_qa.questions_of("e1", header_qa.context_of(HEADER))
    answers = header_qa.regex_baseline(questions)
    assert answers == ["", "Re: bad DCC traffic"]  # "FROM:" is missed, the folded line is cut
    result = header_qa.scores(questions, answers)
    assert result["exact_match"] == 0.0 and result["fields"]["Subject"]["f1"] > 0.5
    assert set(result["fields"]) == {"From", "Subject"}


def test_training_windows_keep_every_answer_and_some_answerless_windows(tokenizer):
    questions = header_qa.questions_of("e1", header_qa.context_of(HEADER)) * 4
    config = header_qa.QaConfig(max_length=40, stride=12)
    every, every_labels = header_qa.training_windows(tokenizer, questions,
                                                     header_qa.QaConfig(max_length=40, stride=12, answerless_every=1))
    some, some_labels = header_qa.training_windows(tokenizer, questions, config)
    holding = [label for label in every_labels if label != (0, 0)]
    assert holding and [label for label in some_labels if label != (0, 0)] == holding
    answerless = len(every_labels) - len(holding)
    assert some_labels.count((0, 0)) == answerless // 3 and len(some) == len(some_labels)


def test_configs_by_profile_and_stable_keys():
    ci, cpu = header_qa.QaConfig.for_profile("ci"), header_qa.QaConfig.for_profile("cpu")
    assert ci.train_emails < cpu.train_emails and len(cpu.seeds) == 3
    assert cpu.key() == header_qa.QaConfig.for_profile("cpu").key() != ci.key()
