"""`synth_commands`: an offline spoken-keyword set in the Speech Commands folder layout.

    python -c "from pathlib import Path; from harness.data.synth import generate; \
               generate(Path('data/synth_commands'))"          # 400 speakers x 30 words, ~25 s

The 30 words of Speech Commands v0.01 are spoken by espeak-ng (see `harness.data.espeak`). A
*speaker* is one draw of English accent x voice variant x rate x pitch x pitch range; it says every
word `repeats` times with a little per-utterance jitter. Each utterance is trimmed, resampled from
22,050 Hz to 16 kHz, peak-scaled to a random level, placed at a random onset inside the second and
mixed with a random stretch of one of the background noises at a random SNR (measured over the
speech, not the whole second). The noises (white, pink, brown, mains hum, fan, babble of non-keyword
speech) are synthesized too and written to `_background_noise_/`.

Output, exactly the layout of the real set:
    OUT/WORD/SPEAKER_nohash_N.wav       16 kHz mono PCM_16, 16,000 samples; SPEAKER = 8 hex chars
    OUT/validation_list.txt, testing_list.txt   "word/file.wav" lines; speaker-disjoint split
    OUT/_background_noise_/*.wav        the noises clips were mixed with
    OUT/.complete                       JSON: config and speaker table; written last

Everything is a pure function of the config: random draws come from NumPy generators keyed by
(seed, purpose, speaker index), and espeak-ng is reloaded before every speaker so its hidden
state cannot leak between speakers; the same seed gives the same bytes on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from harness.console import progress
from harness.data.espeak import Espeak, engine, english_accents, voice_variants
from harness.data.noise import make_noises, resample_16k
from harness.data.speech_commands import CLIP_SAMPLES, WORDS_V001, write_clip
from harness.data.staging import OWNER, remove_stale, stale_marker
from harness.data.synth_config import SynthConfig, rng_for
from harness.errors import HarnessError

MARKER = ".complete"
NOISE_DIR = "_background_noise_"

@dataclass(frozen=True)
class Speaker:
    """One synthetic talker; `voice` is the espeak-ng voice name, e.g. "en-us+f2"."""

    id: str
    accent: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int
    split: str = "train"

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"


def draw_speakers(
    cfg: SynthConfig, accents: tuple[str, ...], variants: tuple[str, ...]
) -> list[Speaker]:
    """Speaker i depends only on (seed, i); the split is a seeded permutation of all speakers."""
    speakers: list[Speaker] = []
    seen: set[str] = set()
    for i in range(cfg.speakers):
        rng = rng_for(cfg, 1, i)
        salt, sid = 0, ""
        while not sid or sid in seen:  # 8 hex chars like the real set; re-salt on a collision
            sid = hashlib.blake2b(f"{cfg.seed}/{i}/{salt}".encode(), digest_size=4).hexdigest()
            salt += 1
        seen.add(sid)
        speakers.append(Speaker(
            id=sid, accent=str(rng.choice(accents)), variant=str(rng.choice(variants)),
            rate=int(rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1)),
            pitch=int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1)),
            pitch_range=int(rng.integers(cfg.pitch_range[0], cfg.pitch_range[1] + 1)),
        ))
    n_valid = max(1, round(cfg.valid_fraction * cfg.speakers))
    n_test = max(1, round(cfg.test_fraction * cfg.speakers))
    order = rng_for(cfg, 3).permutation(cfg.speakers)
    split = {int(i): "valid" for i in order[:n_valid]}
    split |= {int(i): "test" for i in order[n_valid:n_valid + n_test]}
    return [replace(s, split=split.get(i, "train")) for i, s in enumerate(speakers)]


def _mix(
    speech: np.ndarray, noise: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> np.ndarray:
    """One clip: speech (L,) float32 at 16 kHz, noise (M,) float32 -> (16000,) int16."""
    if len(speech) > CLIP_SAMPLES:  # too long for the second: keep the start, fade out 20 ms
        speech = speech[:CLIP_SAMPLES].copy()
        speech[-320:] *= np.linspace(1.0, 0.0, 320, dtype=np.float32)
    speech = speech * (10 ** (rng.uniform(*cfg.level_db) / 20) / max(np.abs(speech).max(), 1e-6))
    onset = int(rng.integers(0, CLIP_SAMPLES - len(speech) + 1))
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    clip[onset : onset + len(speech)] = speech
    start = int(rng.integers(0, len(noise) - CLIP_SAMPLES + 1))
    seg = noise[start : start + CLIP_SAMPLES]
    snr = rng.uniform(*cfg.snr_db)
    p_speech, p_noise = float(np.mean(speech**2)), max(float(np.mean(seg**2)), 1e-12)
    clip += seg * np.float32(np.sqrt(p_speech / (p_noise * 10 ** (snr / 10))))
    peak = np.abs(clip).max()
    if peak > 0.999:  # scale the whole mix down rather than clip it: the SNR stays as drawn
        clip *= 0.999 / peak
    return np.round(clip * 32767).astype(np.int16)


def _speak_speaker(cfg: SynthConfig, eng: Espeak, spk: Speaker, index: int) -> list[np.ndarray]:
    """Every word x repeat of one speaker, (L,) float32 at 16 kHz each, in WORDS_V001 order."""
    rng = rng_for(cfg, 2, index)
    eng.reset(int(rng.integers(2**31)))
    eng.set_voice(spk.voice)  # once: loading a voice costs more than speaking a word
    waves = []
    for word in WORDS_V001:
        for _ in range(cfg.repeats):
            rate = round(spk.rate * rng.uniform(1 - cfg.jitter, 1 + cfg.jitter))
            pitch = spk.pitch + round(rng.uniform(-cfg.jitter, cfg.jitter) * 50)
            # Trimmed, so that the random onset is where the word starts, not its padding.
            waves.append(eng.speak(word, None, rate=int(np.clip(rate, 80, 450)), trim=True,
                                   pitch=int(np.clip(pitch, 0, 99)), pitch_range=spk.pitch_range))
    return resample_16k(waves, eng.sample_rate)


def _write(root: Path, cfg: SynthConfig, label: str) -> None:
    """Generate the whole set into `root` (an empty folder), marker last."""
    eng = engine()
    accents = cfg.accents or english_accents(eng.data_path)
    variants = cfg.variants or voice_variants(eng.data_path)
    for accent in accents:
        eng.set_voice(accent)  # fail early, naming the voice, rather than mid-way
    if unknown := sorted(set(variants) - set(voice_variants(eng.data_path))):
        # espeak-ng would silently fall back to the plain voice for these.
        raise HarnessError(f"espeak-ng has no voice variant {unknown}; fix: choose from "
                           f"{', '.join(voice_variants(eng.data_path))}")
    speakers = draw_speakers(cfg, accents, variants)
    lists: dict[str, list[str]] = {"valid": [], "test": []}
    with progress() as bar:
        task = bar.add_task(f"synth_commands -> {label}", total=cfg.speakers + 1)
        (root / NOISE_DIR).mkdir()
        noises = []  # mixed from the int16 samples, so the files hold exactly what was used
        for name, x in make_noises(cfg, eng, [s.voice for s in speakers]).items():
            write_clip(root / NOISE_DIR / f"{name}.wav", x)
            noises.append(x.astype(np.float32) / 32767)
        for word in WORDS_V001:
            (root / word).mkdir()
        bar.advance(task)
        for i, spk in enumerate(speakers):
            waves = iter(_speak_speaker(cfg, eng, spk, i))
            rng = rng_for(cfg, 5, i)
            for word in WORDS_V001:
                for r in range(cfg.repeats):
                    noise = noises[int(rng.integers(len(noises)))]
                    rel = f"{word}/{spk.id}_nohash_{r}.wav"
                    write_clip(root / rel, _mix(next(waves), noise, rng, cfg))
                    if spk.split in lists:
                        lists[spk.split].append(rel)
            bar.advance(task)
    for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        (root / name).write_text("".join(f"{p}\n" for p in sorted(lists[split])))
    meta = {"format": "synth_commands", "version": 1, "config": _config_json(cfg),
            "clips": cfg.speakers * len(WORDS_V001) * cfg.repeats,
            "speakers": [asdict(s) for s in speakers]}
    (root / MARKER).write_text(json.dumps(meta, indent=1) + "\n")


def _config_json(cfg: SynthConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))  # tuples -> lists, as read back from the marker


def _is_complete(out_dir: Path, cfg: SynthConfig) -> bool:
    """True if out_dir holds this very set; False if it is absent or empty. HarnessError for
    anything else, which is never overwritten: a file, a folder without the marker (partial or
    foreign), a set made with other settings."""
    marker = out_dir / MARKER
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return False
    if not marker.is_file():
        raise HarnessError(f"{out_dir} exists but is not a complete synth_commands folder (no "
                           f"{MARKER}); fix: delete it or choose another output folder")
    try:
        config = json.loads(marker.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise HarnessError(f"{marker} is unreadable ({e}); fix: delete {out_dir}") from e
    if config != _config_json(cfg):
        diff = {k: v for k, v in _config_json(cfg).items() if config.get(k) != v}
        raise HarnessError(f"{out_dir} was generated with other settings (now asked for {diff}); "
                           "fix: delete it or choose another output folder")
    return True


def generate(out_dir: Path, *, speakers: int | None = None, seed: int | None = None,
             config: SynthConfig | None = None) -> Path:
    """Write the set to out_dir (see the module docstring) unless it is already there; return it.

    speakers / seed override the fields of `config` (default SynthConfig()). Atomic: the set is
    built in a hidden sibling folder and renamed into place only once its marker is written, so
    an interrupted run never leaves a folder that looks complete.
    """
    import torch

    cfg = config or SynthConfig()
    cfg = replace(cfg, speakers=cfg.speakers if speakers is None else speakers,
                  seed=cfg.seed if seed is None else seed)
    if cfg.speakers < 3 or cfg.repeats < 1 or cfg.seed < 0 or cfg.noise_seconds < 1:
        raise HarnessError(
            "synth_commands needs speakers >= 3 (train, validation and test each get at least "
            "one), repeats >= 1, seed >= 0 and noise_seconds >= 1; got "
            f"{cfg.speakers}, {cfg.repeats}, {cfg.seed}, {cfg.noise_seconds}"
        )
    out_dir = Path(out_dir)
    if _is_complete(out_dir, cfg):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)  # what a killed generation left
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    stale_marker(tmp)
    threads = torch.get_num_threads()
    # One thread: the convolutions are small, cores are shared, and a fixed thread count keeps
    # floating-point summation order, hence the rounded int16 samples, identical between runs.
    torch.set_num_threads(1)
    try:
        with engine().lock:  # espeak is one per process: no other thread may speak meanwhile
            _write(tmp, cfg, str(out_dir))
        tmp.chmod(0o755)  # mkdtemp makes it private
        (tmp / OWNER).unlink()
        if out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()
        try:
            os.replace(tmp, out_dir)  # rename(2): atomic within one file system
        except OSError:
            if not _is_complete(out_dir, cfg):  # a concurrent run that finished first is fine
                raise
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
