"""Complexity scoring and score-tiered routing: which prompts are generated, and by which teacher.

settings    the [complexity] and [routing] tables
complexity  scorer prompt, scoring through the engine, the easiest share dropped
tiers       tiers by complexity, per-tier teacher weights (largest remainder), the plan table
plots       the complexity distribution figure
run         score → select → assign in a run directory, and what `crd score` prints
"""
