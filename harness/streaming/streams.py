"""Seeded, offline long-audio test streams built from a split's 1 s clips.

    stream = make_stream(data.test, data.labels, data.noise, StreamSettings(seconds=600))
    stream.audio     # (N,) float32 in [-1, 1] at 16 kHz (stream.int16() for PCM)
    stream.onsets    # (K,) int64: the sample at which each keyword clip starts
    stream.labels    # (K,) int64: its label, an index into stream.names

The layout: keyword clips (labels in `keywords`) at random onsets, `density` per
minute; non-keyword clips (`fillers` per minute: the labels outside `keywords`, such
as kws12's `_unknown_`) at random onsets between them; under everything a bed of
`_background_noise_`, scaled so that the keyword clips' mean power is `snr_db` above
the bed's. Clip onsets are at least one clip plus the match tolerance plus 0.5 s
apart (`StreamSettings.spacing`), so every keyword's match window (metrics.py) holds that
keyword alone.

The noise bed overlap-adds random 1 s noise windows (`SplitData.noise`) under a
periodic Hann window at a half-window hop, which sums to a constant: no clicks at
the joins. Without noise windows (a folder with no `_background_noise_`), the bed is
seeded white noise. Keyword clips are drawn without replacement while the split has
enough, with replacement beyond. Same arguments, same stream, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.data import Clips
from harness.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE
from harness.errors import HarnessError
from harness.streaming.settings import StreamSettings


@dataclass(frozen=True)
class Stream:
    """A long test stream and its ground truth; every position is in samples at 16 kHz."""

    audio: np.ndarray            # (N,) float32 in [-1, 1]
    onsets: np.ndarray           # (K,) int64: first sample of each keyword clip, ascending
    labels: np.ndarray           # (K,) int64: the keyword's label index into `names`
    names: tuple[str, ...]       # the split's labels, in label-index order
    keywords: np.ndarray         # (k,) int64: label indices that are keywords
    filler_onsets: np.ndarray    # (F,) int64: first sample of each non-keyword clip
    filler_labels: np.ndarray    # (F,) int64
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    def int16(self) -> np.ndarray:
        """(N,) int16 PCM, the float samples times 32768, rounded and clipped."""
        return np.clip(np.round(self.audio * 32768.0), -32768, 32767).astype(np.int16)


def keyword_indices(names: Sequence[str], keywords: Sequence[str] = ()) -> np.ndarray:
    """Label indices of the keywords: those named, else every label not starting with "_"
    (`_silence_` and `_unknown_` are never keywords by default). HarnessError if none."""
    if keywords:
        missing = [k for k in keywords if k not in names]
        if missing:
            raise HarnessError(f"stream keyword {missing[0]!r} is not a label of this data set; "
                               f"labels: {', '.join(names)}")
        chosen = [names.index(k) for k in keywords]
    else:
        chosen = [i for i, n in enumerate(names) if not n.startswith("_")]
    if not chosen:
        raise HarnessError("no keyword among the labels " + ", ".join(names)
                           + "; name some with [stream] keywords = [...]")
    return np.array(sorted(set(chosen)), dtype=np.int64)


def make_stream(clips: Clips, names: Sequence[str], noise: np.ndarray,
                settings: StreamSettings) -> Stream:
    """Build the stream `settings` describe from `clips` ((N, 16000) int16, labels into
    `names`) and `noise` ((K, 16000) int16 windows, K may be 0)."""
    rng = np.random.default_rng(settings.seed)
    n = round(settings.seconds * SAMPLE_RATE)
    keywords = keyword_indices(list(names), settings.keywords)
    is_kw = np.isin(clips.labels, keywords)
    kw_pool, filler_pool = np.flatnonzero(is_kw), np.flatnonzero(~is_kw)
    if len(kw_pool) == 0:
        raise HarnessError(f"no keyword clip in the split to build a stream from (keywords: "
                           f"{', '.join(names[i] for i in keywords)})")
    minutes = settings.seconds / 60
    n_kw = round(minutes * settings.density)
    n_fill = round(minutes * settings.fillers) if len(filler_pool) else 0
    step = settings.spacing
    slack = n - (n_kw + n_fill) * step  # >= 0: StreamSettings checks the clips fit
    # Sorted uniform offsets plus i * step: every gap at least `step`, each layout equally likely.
    starts = np.sort(rng.integers(0, slack + 1, n_kw + n_fill)) + np.arange(n_kw + n_fill) * step
    kw_slot = np.zeros(n_kw + n_fill, bool)
    kw_slot[rng.permutation(n_kw + n_fill)[:n_kw]] = True
    kw_rows = rng.choice(kw_pool, n_kw, replace=n_kw > len(kw_pool))
    filler_rows = (rng.choice(filler_pool, n_fill, replace=n_fill > len(filler_pool))
                   if n_fill else np.zeros(0, np.int64))

    speech = np.zeros(n, np.float32)
    for start, row in zip(starts[kw_slot], kw_rows, strict=True):
        speech[start:start + CLIP_SAMPLES] += clips.audio[row].astype(np.float32) / 32768.0
    for start, row in zip(starts[~kw_slot], filler_rows, strict=True):
        speech[start:start + CLIP_SAMPLES] += clips.audio[row].astype(np.float32) / 32768.0
    audio = speech
    if settings.snr_db is not None:
        kw_power = np.mean([np.mean((clips.audio[r].astype(np.float64) / 32768.0) ** 2)
                            for r in kw_rows]) if n_kw else 1e-4
        bed = noise_bed(noise, n, rng)
        bed_power = float(np.mean(bed.astype(np.float64) ** 2)) or 1.0
        gain = np.sqrt(kw_power / bed_power / 10 ** (settings.snr_db / 10))
        audio = speech + (gain * bed).astype(np.float32)
    np.clip(audio, -1.0, 1.0, out=audio)
    return Stream(audio=audio, onsets=starts[kw_slot].astype(np.int64),
                  labels=clips.labels[kw_rows].astype(np.int64), names=tuple(names),
                  keywords=keywords, filler_onsets=starts[~kw_slot].astype(np.int64),
                  filler_labels=clips.labels[filler_rows].astype(np.int64))


def noise_bed(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float32 noise: random 1 s windows of `noise` overlap-added under a periodic Hann
    window at hop 8000 (the windows sum to 1), or white noise when `noise` has none."""
    if len(noise) == 0:
        return rng.standard_normal(n).astype(np.float32)
    hop = CLIP_SAMPLES // 2
    count = n // hop + 2
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(CLIP_SAMPLES) / CLIP_SAMPLES)
              ).astype(np.float32) / 32768.0
    bed = np.zeros(hop * (count + 1), np.float32)
    for i, pick in enumerate(rng.integers(0, len(noise), count)):  # one window at a time:
        bed[i * hop:i * hop + CLIP_SAMPLES] += noise[pick] * window  # an hour is 7,200 of them
    return bed[hop:hop + n]  # skip the first half-window, where only one window contributes
