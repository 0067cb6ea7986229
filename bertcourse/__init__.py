"""bertcourse: the support package of the course "BERT, built from scratch".

Subpackages and modules by concept, so a later chapter (or a student whose
earlier notebook is unfinished) can import the reference version of anything
built before it:

- ``models``: the reference BERT (``bert``), its pre-training heads (``heads``),
  the transformers state-dict maps (``convert``) and cheap dropout (``dropout``).
- ``pretraining``: Chapter 2: masking, sentence pairs, objectives, the data pipeline, the run.
- ``training``: the model-agnostic loop, learning-rate schedules, mixed precision.
- ``data``: the Moby Dick, State of the Union and SpamAssassin corpora.
- ``tokenization``: WordPiece and input framing (Chapter 1).
- ``runtime``: device, seed, profile (``BERTCOURSE_PROFILE``), autocast, eval mode.
- ``hub``: the MiniLM tokenizer and weights, offline.
- ``viz``: the figures.
- ``registry``: the graded items; ``authoring``: answer cells synced from the references.
- ``grading``: helpers the graded notebooks' tests call; ``grader``: the instructor's grading pipeline.
- ``bench``: the benchmarks behind the book's Performance page.

Importing the package has no side effects: call ``runtime.set_seed`` and
``viz.set_style`` yourself.

The reference implementations of the graded items are here to read after you have
written your own: when a notebook is graded, an answer that imports or binds one
scores nothing on that item, and an answer pasted from one (renamed, reformatted,
comments changed) is flagged for the instructor's review (``bertcourse.grader.similarity``).
"""

__version__ = "0.1.0"
