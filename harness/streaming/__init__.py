"""Streaming evaluation: how a keyword spotter does on a continuous stream (docs/streaming.md).

    streams.py    seeded long test streams from a split's clips, with ground truth
    infer.py      the sliding 1 s window, posterior smoothing, detections
    metrics.py    detections vs ground truth: DET curve, FRR at a FA/h budget, DET area
    cost.py       MACs and CPU time per second of audio at a hop
    evaluate.py   one evaluation of one pipeline
    track.py      into a trial's MLflow run; figures.py, its DET figures
    settings.py   StreamSettings, the `[stream]` table of an experiment file (no torch)

This file imports nothing, so `harness.streaming.settings` stays light for the
experiment-file layer.
"""
