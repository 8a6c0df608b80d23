"""sapa: a methodology engine for rating public-service quality.

The pipeline, one module per stage: source (YAML with positions) -> loading (extends, schema) ->
validation (names, formulas, bands; builds spec.Spec) -> data (tables under the contract) ->
evaluation (variables, via formula_eval) -> ranking -> output in cli.py.
"""

__version__ = "0.1.0"
