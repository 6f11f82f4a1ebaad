"""The quiz report: region annotations, evaluators, Markdown/HTML rendering."""
