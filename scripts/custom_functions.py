"""What the training config names, for `spacy train --code` (and the project's steps that load a model).

Importing it registers the model's architectures (scripts/ner_model, which the package step ships in the
wheel) and the training-only functions: the corpus reader and the optimizer with its schedule.
"""

from scripts import corpus_reader, optimizer  # noqa: F401 -- registered on import
from scripts.ner_model import architectures  # noqa: F401 -- registered on import
