"""sapa's engine: a methodology written in YAML, run over data.

One package per pipeline stage, each with one public face (its __init__): spec (read, merge,
check, model) -> data (read, contract) -> rating (variables, the survey step, ratings), with
formula and survey beneath them, and testing, published, synth, analysis and render beside.
`api` chains them; the README's Architecture section lists which stage may import which.
"""

__version__ = "0.1.0"
