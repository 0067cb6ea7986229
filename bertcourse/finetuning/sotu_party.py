"""SOTU passages -> the speaker's party: the data of a task where documents must not be split.

An address is cut into passages of five sentences; each passage is labelled with its
president's party. Splitting the passages at random puts passages of one address in both
train and test (its topics, names and phrasing leak); the course's split is by address
(:func:`bertcourse.data.split_of` of ``Address.key``).
"""

from __future__ import annotations

from collections import Counter

from bertcourse import data

Passage = tuple[str, str, str]  # (address key, party, text)


def passages(sentences_per_passage: int = 5) -> list[Passage]:
    """Every address cut into passages of ``sentences_per_passage`` sentences, in order."""
    out = []
    for address in data.load_sotu():
        sentences = address.sentences
        for i in range(0, len(sentences), sentences_per_passage):
            out.append((address.key, address.party, " ".join(sentences[i: i + sentences_per_passage])))
    return out


def split(items: list[Passage], by: str) -> dict[str, list[Passage]]:
    """Train (train + validation) and test passages, split ``by`` "address" or by "passage" (the leaky way)."""
    if by not in ("address", "passage"):
        raise ValueError(f"by must be 'address' or 'passage'; got {by!r}")
    out: dict[str, list[Passage]] = {"train": [], "test": []}
    for key, party, text in items:
        unit = key if by == "address" else f"{key}|{text}"
        out["test" if data.split_of(unit) == "test" else "train"].append((key, party, text))
    return out


def tfidf_accuracy(train: list[Passage], test: list[Passage]) -> dict[str, float]:
    """Test accuracy of TF-IDF + logistic regression, and of always answering the training majority party."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform([text for _, _, text in train])
    model = LogisticRegression(C=10.0, max_iter=300).fit(features, [party for _, party, _ in train])
    predicted = model.predict(vectorizer.transform([text for _, _, text in test]))
    truth = [party for _, party, _ in test]
    majority = Counter(party for _, party, _ in train).most_common(1)[0][0]
    return {"tfidf": float((predicted == truth).mean()), "majority": sum(t == majority for t in truth) / len(truth),
            "test passages": len(test), "test addresses": len({key for key, _, _ in test})}
