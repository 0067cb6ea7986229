"""bertcourse: the support package of the course "BERT, built from scratch".

Modules mirror the chapters, so a later chapter (or a student whose earlier
notebook is unfinished) can import the reference version of anything built
before it:

- ``runtime``: device, seed, profile (``BERTCOURSE_PROFILE``) and autocast.
- ``data``: the Moby Dick, State of the Union and SpamAssassin corpora.
- ``hub``: the MiniLM tokenizer and weights, offline.
- ``tokenization``: WordPiece and input framing (Chapter 1).
- ``model``: the reference BERT (Chapter 1).
- ``train`` and ``viz``: the training loop and the figures.
- ``grading`` and ``registry``: what the graded notebooks' tests use.

Importing the package has no side effects: call ``runtime.set_seed`` and
``viz.set_style`` yourself.

The reference implementations of the graded items are here to read after you have
written your own: when a notebook is graded, an answer that imports or binds one
scores nothing on that item, and an answer pasted from one (renamed, reformatted,
comments changed) is flagged for the instructor's review (``bertcourse.grader.similarity``).
"""

__version__ = "0.1.0"
