"""Task 3's parts on real SOTU sentences: the cut to the budget, label alignment, reading tags back, baseline."""

from __future__ import annotations

import numpy as np
import pytest

from bertcourse import data
from bertcourse.finetuning import entities, ner


@pytest.fixture(scope="module")
def sentences():
    presidents = tuple(sorted({a.president for a in data.load_sotu()}))
    address = next(a for a in data.sotu_splits()["test"] if a.year < 1900)
    found = ner.sentences_of([address], entities.gazetteer(presidents))
    assert any(set(s.tags) != {"O"} for s in found)
    return found


def test_alignment_on_real_tokenizations_round_trips(tokenizer, sentences):
    kept, examples = ner.fit_to_budget(tokenizer, sentences, max_length=32)
    assert any(len(k.words) < len(s.words) for k, s in zip(kept, sentences))  # some sentences were cut
    for sentence, (ids, _, word_ids) in zip(kept, examples):
        assert len(ids) <= 32 and len(sentence.words) == len(sentence.tags)
        labels = ner.token_labels(sentence, word_ids)
        assert [ner.TAGS[i] for i in labels if i != -100] == sentence.tags  # one label per word, in order
        one_hot = np.eye(len(ner.TAGS))[[max(i, 0) for i in labels]]  # logits peaking on each token's label
        assert ner.word_tags(one_hot, word_ids) == sentence.tags


def test_lookup_baseline_tags_only_training_strings():
    train = [ner.Sentence("a", ["Ohio", "in", "1850", "."], ["B-LOC", "O", "B-DATE", "O"])]
    test = [ner.Sentence("b", ["Ohio", "and", "Texas", "in", "1850", "and", "1851"],
                         ["B-LOC", "O", "B-LOC", "O", "B-DATE", "O", "B-DATE"])]
    assert ner.lookup_baseline(train, test) == [["B-LOC", "O", "O", "O", "B-DATE", "O", "O"]]
    seen = ner.training_entities(train)
    assert seen == {("Ohio",): "LOC", ("1850",): "DATE"}
    assert ner.only_unseen(test, [s.tags for s in test], seen) == [["O", "O", "B-LOC", "O", "O", "O", "B-DATE"]]
    result = ner.scores(test, ner.lookup_baseline(train, test), seen)
    assert result["overall"]["precision"] == 1.0 and result["overall"]["recall"] == 0.5
    assert result["unseen"]["recall"] == 0.0 and result["types"]["LOC"]["support"] == 2


def test_configs_by_profile_and_stable_keys():
    ci, cpu = ner.NerConfig.for_profile("ci"), ner.NerConfig.for_profile("cpu")
    assert ci.train_sentences < cpu.train_sentences and len(cpu.seeds) == 3
    assert cpu.key() == ner.NerConfig.for_profile("cpu").key() != ci.key()
