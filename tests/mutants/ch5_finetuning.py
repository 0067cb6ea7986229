"""Chapter 5's common mistakes (each must lose points) and correct alternatives (each must get full marks)."""

from __future__ import annotations

from tests.mutants.variant import Variant, alternative, mutant

VARIANTS: list[Variant] = [
    # --- SequenceClassifier ---------------------------------------------------
    mutant("SequenceClassifier", "the pooler output instead of [CLS]",
           ("""        states = self.encoder(input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        return self.classifier(self.dropout(states[:, 0]))""",
            """        pooled = self.encoder(input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).pooler_output
        return self.classifier(self.dropout(pooled))""")),
    mutant("SequenceClassifier", "the last token instead of [CLS]",
           ("self.classifier(self.dropout(states[:, 0]))", "self.classifier(self.dropout(states[:, -1]))")),
    mutant("SequenceClassifier", "the mean over all tokens instead of [CLS]",
           ("self.classifier(self.dropout(states[:, 0]))", "self.classifier(self.dropout(states.mean(1)))")),
    mutant("SequenceClassifier", "attention_mask not passed to the encoder",
           ("attention_mask=attention_mask,\n", "attention_mask=None,\n")),
    mutant("SequenceClassifier", "a frozen encoder (no gradient into it)",
           ("        states = self.encoder(", "        with torch.no_grad():\n            states = self.encoder("),
           ("                              token_type_ids=token_type_ids).last_hidden_state",
            "                                  token_type_ids=token_type_ids).last_hidden_state")),
    mutant("SequenceClassifier", "no bias in the head",
           ("self.classifier = nn.Linear(hidden_size, num_labels)",
            "self.classifier = nn.Linear(hidden_size, num_labels, bias=False)")),
    alternative("SequenceClassifier", "positional call, output[0], dropout as a functional call", '''
class SequenceClassifier(nn.Module):
    def __init__(self, encoder, hidden_size, num_labels, dropout=0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(p=dropout)
        self.classifier = nn.Linear(hidden_size, num_labels, bias=True)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        output = self.encoder(input_ids, attention_mask, token_type_ids)
        cls_vector = output[0][:, 0, :]
        return self.classifier(self.dropout(cls_vector))
'''),
    # --- mean_pooling ---------------------------------------------------------
    mutant("mean_pooling", "pooling over the padding too", source='''
def mean_pooling(last_hidden_state, attention_mask):
    return last_hidden_state.mean(dim=1)
'''),
    mutant("mean_pooling", "masked sum divided by the sequence length",
           ("counts = mask.sum(dim=1).clamp(min=1.0)", "counts = torch.full_like(mask.sum(dim=1), mask.shape[1])")),
    mutant("mean_pooling", "no clamp: NaN for an all-padding row",
           ("counts = mask.sum(dim=1).clamp(min=1.0)", "counts = mask.sum(dim=1)")),
    mutant("mean_pooling", "always float32", ("return summed / counts", "return (summed / counts).float()")),
    alternative("mean_pooling", "masked_fill and a where for empty rows", '''
def mean_pooling(last_hidden_state, attention_mask):
    keep = attention_mask.bool()
    total = last_hidden_state.masked_fill(~keep[..., None], 0.0).sum(1)
    count = keep.sum(1, keepdim=True)
    return torch.where(count > 0, total / count.clamp_min(1).to(total.dtype), torch.zeros_like(total))
'''),
    alternative("mean_pooling", "sentence-transformers' rule (clamp at 1e-9)", '''
def mean_pooling(last_hidden_state, attention_mask):
    mask = attention_mask.unsqueeze(-1).expand(last_hidden_state.size()).to(last_hidden_state.dtype)
    return torch.sum(last_hidden_state * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
'''),
    # --- cosine_top_k ---------------------------------------------------------
    mutant("cosine_top_k", "dot product without normalising",
           ("similarity = F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T",
            "similarity = queries @ documents.T")),
    mutant("cosine_top_k", "only the documents normalised",
           ("similarity = F.normalize(queries, dim=-1) @", "similarity = queries @")),
    mutant("cosine_top_k", "the least similar first",
           ("torch.topk(similarity, k, dim=-1)", "torch.topk(similarity, k, dim=-1, largest=False)")),
    mutant("cosine_top_k", "k > N clamped instead of an error",
           ("    if not 1 <= k <= documents.shape[0]:\n", "    k = min(k, documents.shape[0])\n    if k < 1:\n")),
    alternative("cosine_top_k", "cosine_similarity with broadcasting and a full sort", '''
def cosine_top_k(queries, documents, k):
    if queries.shape[1] != documents.shape[1] or k < 1 or k > documents.shape[0]:
        raise ValueError(f"bad k={k} or shapes {tuple(queries.shape)}, {tuple(documents.shape)}")
    similarity = F.cosine_similarity(queries[:, None, :], documents[None, :, :], dim=-1, eps=1e-12)
    order = similarity.argsort(dim=1, descending=True)[:, :k]
    return similarity.gather(1, order), order
'''),
    # --- align_labels_with_tokens ---------------------------------------------
    mutant("align_labels_with_tokens", "every sub-token labelled by default",
           ("label_all_subwords: bool = False", "label_all_subwords: bool = True")),
    mutant("align_labels_with_tokens", "special tokens labelled 0", ("            labels.append(-100)\n        elif",
                                                                      "            labels.append(0)\n        elif")),
    mutant("align_labels_with_tokens", "label_all_subwords ignored", ("elif word != previous or label_all_subwords:",
                                                                       "elif word != previous:")),
    mutant("align_labels_with_tokens", "a first sub-token is a word id not seen before", source='''
def align_labels_with_tokens(word_labels, word_ids, label_all_subwords=False):
    seen, labels = set(), []
    for word in word_ids:
        if word is None:
            labels.append(-100)
        elif word not in seen or label_all_subwords:
            labels.append(word_labels[word])
        else:
            labels.append(-100)
        if word is not None:
            seen.add(word)
    return labels
'''),
    alternative("align_labels_with_tokens", "indices and a comprehension", '''
def align_labels_with_tokens(word_labels, word_ids, label_all_subwords=False):
    def label(i, w):
        if w is None:
            return -100
        first = i == 0 or word_ids[i - 1] != w
        return word_labels[w] if first or label_all_subwords else -100
    return [label(i, w) for i, w in enumerate(word_ids)]
'''),
    # --- entity_f1 ------------------------------------------------------------
    mutant("entity_f1", "token-level F1 over the non-O tags", source='''
def entity_f1(true_tags, pred_tags):
    if len(true_tags) != len(pred_tags) or any(len(t) != len(p) for t, p in zip(true_tags, pred_tags)):
        raise ValueError("lengths differ")
    pairs = [(t, p) for ts, ps in zip(true_tags, pred_tags) for t, p in zip(ts, ps)]
    correct = sum(t == p and t != "O" for t, p in pairs)
    total = sum(t != "O" for t, _ in pairs) + sum(p != "O" for _, p in pairs)
    return 2 * correct / total if correct else 0.0
'''),
    mutant("entity_f1", "an I- without B- starts an entity (lenient, like conlleval)",
           ("                if prefix == \"B\":\n",
            "                if prefix == \"B\" or (prefix == \"I\" and start is None):\n")),
    mutant("entity_f1", "the type is not compared", ("found.add((index, start, position - 1, kind))",
                                                     "found.add((index, start, position - 1))")),
    mutant("entity_f1", "spans match across sequences (no sequence index)",
           ("found.add((index, start, position - 1, kind))", "found.add((start, position - 1, kind))")),
    mutant("entity_f1", "F1 averaged over sequences instead of micro", source='''
def entity_f1(true_tags, pred_tags):
    if len(true_tags) != len(pred_tags) or any(len(t) != len(p) for t, p in zip(true_tags, pred_tags)):
        raise ValueError("lengths differ")

    def spans(tags):
        found, start, kind = set(), None, None
        for i, tag in enumerate(list(tags) + ["O"]):
            if start is not None and not (tag[:1] == "I" and tag[2:] == kind):
                found.add((start, i - 1, kind))
                start = None
            if tag[:1] == "B":
                start, kind = i, tag[2:]
        return found
    scores = []
    for t, p in zip(true_tags, pred_tags):
        a, b = spans(t), spans(p)
        scores.append(2 * len(a & b) / (len(a) + len(b)) if a & b else 0.0)
    return sum(scores) / len(scores) if scores else 0.0
'''),
    alternative("entity_f1", "spans as strings, precision and recall first", '''
def entity_f1(true_tags, pred_tags):
    if len(true_tags) != len(pred_tags):
        raise ValueError("different numbers of sequences")
    for t, p in zip(true_tags, pred_tags):
        if len(t) != len(p):
            raise ValueError("a sequence pair of different lengths")

    def chunks(sequences):
        out = []
        for n, tags in enumerate(sequences):
            i = 0
            while i < len(tags):
                if tags[i].startswith("B-"):
                    kind, j = tags[i][2:], i + 1
                    while j < len(tags) and tags[j] == "I-" + kind:
                        j += 1
                    out.append(f"{n}:{i}:{j}:{kind}")
                    i = j
                else:
                    i += 1
        return set(out)
    true, pred = chunks(true_tags), chunks(pred_tags)
    correct = len(true & pred)
    if correct == 0:
        return 0.0
    precision, recall = correct / len(pred), correct / len(true)
    return 2 * precision * recall / (precision + recall)
'''),
    # --- best_answer_span -----------------------------------------------------
    mutant("best_answer_span", "end exclusive", ("return best // length, best % length",
                                                  "return best // length, best % length + 1")),
    mutant("best_answer_span", "start > end allowed",
           ("valid = (ends >= starts) & (ends < starts + max_answer_length)",
            "valid = (ends - starts).abs() < max_answer_length")),
    mutant("best_answer_span", "spans outside the context (only the start checked)",
           ("valid &= inside[:, None] & inside[None, :]", "valid &= inside[:, None]")),
    mutant("best_answer_span", "one token too long allowed",
           ("(ends < starts + max_answer_length)", "(ends <= starts + max_answer_length)")),
    mutant("best_answer_span", "best start and best end chosen separately", source='''
def best_answer_span(start_logits, end_logits, context_mask, max_answer_length=30):
    inside = context_mask.bool()
    if not inside.any():
        raise ValueError("empty context")
    start = int(start_logits.masked_fill(~inside, float("-inf")).argmax())
    end = int(end_logits.masked_fill(~inside, float("-inf")).argmax())
    return start, end
'''),
    mutant("best_answer_span", "ties to the largest start", source='''
def best_answer_span(start_logits, end_logits, context_mask, max_answer_length=30):
    inside = context_mask.bool().tolist()
    if not any(inside):
        raise ValueError("empty context")
    best, where = None, None
    for s in range(len(inside)):
        for e in range(s, min(len(inside), s + max_answer_length)):
            score = float(start_logits[s] + end_logits[e])
            if inside[s] and inside[e] and (best is None or score >= best):
                best, where = score, (s, e)
    return where
'''),
    mutant("best_answer_span", "returns tensors", ("return best // length, best % length",
                                                    "return torch.tensor(best // length), torch.tensor(best % length)")),
    alternative("best_answer_span", "a double loop over starts and ends", '''
def best_answer_span(start_logits, end_logits, context_mask, max_answer_length=30):
    if max_answer_length < 1:
        raise ValueError("max_answer_length must be at least 1")
    inside = [bool(m) for m in context_mask.tolist()]
    if not any(inside):
        raise ValueError("the context is empty")
    best, where = None, None
    for s in range(len(inside)):
        if not inside[s]:
            continue
        for e in range(s, min(len(inside), s + max_answer_length)):
            if inside[e]:
                score = start_logits[s] + end_logits[e]
                if best is None or score > best:
                    best, where = score, (s, e)
    return where
'''),
]
