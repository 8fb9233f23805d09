"""Slide a trained pipeline over a stream: posteriors per window, smoothing, detections.

    post = posteriors(pipeline, stream.audio, hop=1600)      # (W, C) softmax, window j ends
                                                             # at sample j * hop + 16000
    scores = smooth(post, w_smooth=3)                        # Chen et al.'s causal average
    det = detect(scores, stream.keywords, THRESHOLDS, refractory=10)

The network is any nn.Module mapping (B, 16000) float32 in [-1, 1] to (B, n_classes)
logits: the harness's front-end followed by its network (`harness.models.classifier.Classifier`),
or a model logged to MLflow. Every front-end and model goes through the same code.
The stream is moved to the device once and cut into windows by `Tensor.unfold` (a
view, no copy); windows go through the pipeline `batch` at a time.

Post-processing follows Chen, Parada & Heigold, "Small-footprint keyword spotting using
deep neural networks", ICASSP 2014 (Sec. 2.3; the paper Honk's authors point to for
FAR/FRR, castorini/honk#37):

- smoothing: p'_j = mean of the posteriors of windows max(1, j - w_smooth + 1) .. j,
  the paper's causal moving average, with w_smooth in hops instead of 10 ms frames;
- confidence: the paper takes, for a keyword of n sub-word units, the geometric mean of
  each unit's maximum smoothed posterior over a w_max window. Our networks classify whole
  words, so a keyword is one unit (n - 1 = 1) and the confidence is its smoothed posterior;
  we take no max over w_max (simplified: the refractory rule below plays its part);
- decision: the paper thresholds the confidence. In a stream that alone fires many times
  per utterance, so, as TensorFlow's `RecognizeCommands` (tensorflow/examples/
  speech_commands/recognize_commands.py: detection_threshold, suppression_ms) does, a
  detection is the start of a run of windows whose top keyword score is at or above the
  threshold (or a change of the top keyword inside such a run), and none may follow
  another within the refractory period.

Only keyword classes are scored: `_silence_`, `_unknown_` and any label outside the
keyword list never fire, and their posterior mass counts against every keyword.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.data.speech_commands import CLIP_SAMPLES

# Thresholds on the smoothed posterior: a linear grid plus a log grid towards 1, where
# a confident model's false alarms live. Shared by every run, so curves average directly.
THRESHOLDS = np.unique(np.round(np.concatenate(
    [np.linspace(0.0, 1.0, 101), 1.0 - np.logspace(-2, -6, 41)]), 9))


@torch.inference_mode()
def posteriors(net: nn.Module, audio: np.ndarray | torch.Tensor, *, hop: int,
               device: torch.device | str = "cpu", batch: int = 512) -> np.ndarray:
    """(W, C) float32 softmax posteriors of the 1 s windows starting every `hop` samples.

    `audio` is (N,) float32 in [-1, 1] or int16 PCM; window j covers samples
    [j * hop, j * hop + 16000), W = (N - 16000) // hop + 1. The network runs in eval mode.
    """
    x = torch.as_tensor(np.asarray(audio))
    x = x.float() / 32768.0 if x.dtype == torch.int16 else x.float()
    if len(x) < CLIP_SAMPLES:
        raise ValueError(f"a stream of {len(x)} samples is shorter than one window")
    x = x.to(device)
    net.eval()
    windows = x.unfold(0, CLIP_SAMPLES, hop)  # (W, 16000), a view
    out = []
    for first in range(0, len(windows), batch):
        logits = net(windows[first:first + batch].contiguous())
        out.append(torch.softmax(logits.float(), dim=-1))
    return torch.cat(out).cpu().numpy()


def window_ends(n_windows: int, hop: int) -> np.ndarray:
    """(W,) int64: the sample just after each window's end, the time of its decision."""
    return np.arange(n_windows, dtype=np.int64) * hop + CLIP_SAMPLES


def smooth(post: np.ndarray, w_smooth: int) -> np.ndarray:
    """Chen et al.'s causal moving average: row j is the mean of rows max(0, j-w+1) .. j."""
    if w_smooth <= 1:
        return post
    csum = np.concatenate([np.zeros((1, post.shape[1])), np.cumsum(post, axis=0, dtype=np.float64)])
    j = np.arange(len(post))
    lo = np.maximum(0, j - w_smooth + 1)
    return ((csum[j + 1] - csum[lo]) / (j + 1 - lo)[:, None]).astype(np.float32)


@dataclass(frozen=True)
class Detections:
    """Every detection at every threshold, flat; `threshold[i]` indexes `thresholds`."""

    thresholds: np.ndarray  # (T,) float64, ascending
    threshold: np.ndarray   # (D,) int64 index into thresholds
    window: np.ndarray      # (D,) int64 window index (decision at window_ends(...)[window])
    label: np.ndarray       # (D,) int64 label index of the detected keyword
    score: np.ndarray       # (D,) float32 its smoothed posterior


def detect(scores: np.ndarray, keywords: np.ndarray, thresholds: np.ndarray = THRESHOLDS,
           refractory: int = 1) -> Detections:
    """Detections at each threshold (module docstring's rule).

    scores: (W, C) smoothed posteriors; keywords: label indices that may fire;
    refractory: windows after a detection in which no other may start (1: none barred).
    """
    ks = scores[:, keywords]
    top = ks.max(axis=1)
    label = keywords[ks.argmax(axis=1)]
    changed = np.concatenate([[True], label[1:] != label[:-1]])
    above = top[:, None] >= thresholds[None, :]                     # (W, T)
    before = np.vstack([np.zeros((1, len(thresholds)), bool), above[:-1]])
    edges = above & (~before | changed[:, None])
    parts: list[tuple[int, np.ndarray]] = []
    for t in range(len(thresholds)):
        frames = np.flatnonzero(edges[:, t])
        parts.append((t, _refractory(frames, refractory)))
    th = np.concatenate([np.full(len(f), t, np.int64) for t, f in parts])
    win = np.concatenate([f for _, f in parts]).astype(np.int64)
    return Detections(thresholds=np.asarray(thresholds, np.float64), threshold=th, window=win,
                      label=label[win], score=top[win])


def _refractory(frames: np.ndarray, gap: int) -> np.ndarray:
    """The frames kept when each kept one bars the next `gap - 1` (greedy, in time order)."""
    if gap <= 1 or len(frames) < 2:
        return frames
    kept = []
    i = 0
    while i < len(frames):  # one step per detection, not per frame
        kept.append(frames[i])
        i = int(np.searchsorted(frames, frames[i] + gap, side="left"))
    return np.asarray(kept, dtype=np.int64)
