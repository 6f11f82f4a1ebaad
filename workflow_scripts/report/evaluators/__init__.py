"""One evaluator per kind of quiz question, by topic; importing the package registers them all.

base.py holds what they share (Answer, NotAnswerable, the @evaluator registry EVALUATORS, the
context helpers); each topic module registers its evaluators with @evaluator.
"""

from workflow_scripts.report.evaluators import (  # noqa: F401  (registration)
    bert_attention,
    bert_hidden,
    bert_similarity,
    filters,
    focus,
    gradients,
    lime,
    quality,
)
from workflow_scripts.report.evaluators.base import *  # noqa: F401,F403
from workflow_scripts.report.evaluators.base import (  # noqa: F401
    EVALUATORS,
    Answer,
    NotAnswerable,
    evaluator,
    load,
)
