"""Evaluation and studies: how well a generator translates, measured offline.

    metrics.py    Frechet distances, KID, the small feature helpers they share
    judge.py      the fixed ImageNet judge (EfficientNet-Lite0 features at two depths)
    baselines.py  the colour baselines a generator must beat
    evaldata.py   the evaluation data: images, the trained domain classifier, cached features
    evaluate.py   `cyclegan-eval`: a run or model against the baselines
    report.py     eval and sweep results as text tables
    sweep.py      `cyclegan-sweep`: a grid of short trainings, each evaluated
    sweepgrid.py  its --grid / --config, read and checked
"""
