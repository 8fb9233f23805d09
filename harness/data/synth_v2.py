"""`synth_commands_v2`: the offline spoken-keyword set, made to sound more like recordings.

    from harness.data.synth_v2 import generate
    generate(Path("data/synth_commands_v2_small"), speakers=200)

The same 30 words, speakers, splits and folder layout as `harness.data.synth` (v1, which stays
as it was, byte for byte), and each clip passes through what a recording adds
(`harness.data.realism`); every step is a `RealConfig` knob, so a step can be switched off and
its effect on transfer measured (docs/synthetic.md):

1. a second engine: a share of the speakers is spoken by SVOX Pico (`harness.data.pico`)
   instead of espeak-ng;
2. the talker's vocal-tract length: each speaker's words are resampled by a factor drawn per
   speaker (formants, pitch and rate move together);
3. a room: a share of the clips is convolved with a parametric room response (RT60, distance);
4. the word's position: anywhere in the second (v1), or centred with a spread;
5. noise: v1's noises, plus street and room-tone noise;
6. a microphone and channel: low cut, EQ, a bandwidth (full, low pass, 8 kHz, telephone), a
   codec's loss, clipping.

Reproducible as v1 is: each draw comes from a generator keyed by (seed, purpose, speaker), so
switching one step off leaves every other step's draws as they were.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from harness.console import progress
from harness.data import pico, realism
from harness.data.espeak import engine, english_accents, trim_silence, voice_variants
from harness.data.noise import make_noises
from harness.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE, WORDS_V001, write_clip
from harness.data.synth import (
    MARKER,
    NOISE_DIR,
    Speaker,
    _speak_speaker,
    draw_speakers,
)
from harness.data.synth import generate as generate_v1
from harness.data.synth_config import SynthConfig, rng_for
from harness.errors import HarnessError

# Keys of rng_for beyond v1's (1-5): one stream per purpose, so the steps are independent.
_ENGINE, _ROOM, _CHANNEL, _PLACE, _NOISE = 10, 11, 12, 13, 14


@dataclass(frozen=True)
class RealConfig(SynthConfig):
    """v1's knobs plus the recording steps. Shares are fractions of speakers or clips; times in
    seconds; distances in metres; volumes in m^3. A share of 0 switches its step off.

    The defaults are the recipe measured to transfer best to FSDD's dev speakers
    (docs/synthetic.md): the channel, the extra noises and the centred word on; rooms, Pico and
    the vocal-tract perturbation off, since they did not help there (each is one knob away).
    """

    pico_share: float = 0.0                   # speakers spoken by Pico
    speed: tuple[float, float] = (1.0, 1.0)   # per-speaker resampling factor (<1: larger talker)
    room_share: float = 0.0                   # clips in a room
    rt60: tuple[float, float] = (0.15, 0.8)
    distance: tuple[float, float] = (0.3, 3.0)
    room_volume: tuple[float, float] = (30.0, 300.0)
    centre_sd: float = 0.1                    # 0: onset uniform in the second (v1); else the
    #                                           word's centre ~ N(0.5 s, centre_sd)
    extra_noises: bool = True                 # street and room tone beside v1's noises
    band_weights: tuple[float, ...] = (0.4, 0.2, 0.3, 0.1)  # realism.BANDS, relative
    eq_db: float = 6.0                        # largest boost/cut of each EQ band
    codec_share: float = 0.2
    clip_share: float = 0.1                   # clips driven 3-12 dB into clipping


def config_from(knobs: Mapping[str, Any]) -> RealConfig:
    """RealConfig from `--set` values (TOML lists become tuples); HarnessError naming an
    unknown knob."""
    known = [f.name for f in fields(RealConfig)]
    for key in knobs:
        if key not in known:
            raise HarnessError(f"--set {key}: not a synth_commands_v2 knob; known: "
                               f"{', '.join(known)}")
    return RealConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()})


def _check(cfg: RealConfig) -> None:
    shares = (cfg.pico_share, cfg.room_share, cfg.codec_share, cfg.clip_share)
    if (min(shares) < 0 or max(shares) > 1 or len(cfg.band_weights) != len(realism.BANDS)
            or min(cfg.band_weights) < 0 or sum(cfg.band_weights) <= 0
            or not 0.5 <= cfg.speed[0] <= cfg.speed[1] <= 2.0 or cfg.rt60[0] < 0.05):
        raise HarnessError(f"synth_commands_v2 settings out of range: shares {shares} must be "
                           f"in [0, 1], band_weights {cfg.band_weights} {len(realism.BANDS)} "
                           f"non-negative numbers ({', '.join(realism.BANDS)}), speed "
                           f"{cfg.speed} within [0.5, 2], rt60 {cfg.rt60} from 0.05 s")
    if cfg.pico_share > 0 and not pico.available():
        pico.speak("", pico.VOICES[0])  # raises the HarnessError naming the fix


def _pico_requests(cfg: RealConfig, pitch: int, rate: int, index: int) -> list[pico.Request]:
    """Every word x repeat of one Pico speaker, in WORDS_V001 order: what to ask Pico. The
    espeak speaker's pitch (0-99) and rate (wpm) map onto Pico's multipliers."""
    rng = rng_for(cfg, _ENGINE, index, 1)
    voice = str(rng.choice(pico.VOICES))
    out = []
    for word in WORDS_V001:
        for _ in range(cfg.repeats):
            j = rng.uniform(1 - cfg.jitter, 1 + cfg.jitter, size=2)
            # Pico's voices are women's (about 200 Hz): pitch 0.5-1.1 reaches men's voices too.
            out.append((word, voice, float(np.clip(rate / 170 * j[0], 0.5, 2.0)),
                        float(np.clip((0.5 + 0.6 * pitch / 99) * j[1], 0.5, 2.0))))
    return out


def _speak_pico(cfg: RealConfig, speakers: list[Speaker], engines: list[str]
                ) -> dict[int, list[np.ndarray]]:
    """Speaker index -> its words as (L,) float32 at 16 kHz, for the Pico speakers: all
    spoken in one child process (pico.speak_many)."""
    chosen = [i for i, e in enumerate(engines) if e == "pico"]
    asked = [_pico_requests(cfg, speakers[i].pitch, speakers[i].rate, i) for i in chosen]
    waves = iter(pico.speak_many([r for rs in asked for r in rs]))
    return {i: [trim_silence(next(waves)).astype(np.float32) / 32768 for _ in rs]
            for i, rs in zip(chosen, asked, strict=True)}


def _compose(speech: np.ndarray, noise: np.ndarray, cfg: RealConfig, index: int,
             clip_no: int) -> np.ndarray:
    """One clip: speech (L,) float32 at 16 kHz (already perturbed) -> (16000,) int16."""
    rng = rng_for(cfg, _ROOM, index, clip_no)
    if rng.random() < cfg.room_share:
        response = realism.room_response(rng, rng.uniform(*cfg.rt60), rng.uniform(*cfg.distance),
                                         rng.uniform(*cfg.room_volume))
        speech = realism.convolve(speech, response)
    if len(speech) > CLIP_SAMPLES:  # too long for the second: keep the start, fade out 20 ms
        speech = speech[:CLIP_SAMPLES].copy()
        speech[-320:] *= np.linspace(1.0, 0.0, 320, dtype=np.float32)
    rng = rng_for(cfg, _PLACE, index, clip_no)
    speech = speech * (10 ** (rng.uniform(*cfg.level_db) / 20) / max(np.abs(speech).max(), 1e-6))
    room = CLIP_SAMPLES - len(speech)
    if cfg.centre_sd > 0:
        onset = int(np.clip(room / 2 + rng.normal(0, cfg.centre_sd) * SAMPLE_RATE, 0, room))
    else:
        onset = int(rng.integers(0, room + 1))
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    clip[onset:onset + len(speech)] = speech
    rng = rng_for(cfg, _NOISE, index, clip_no)
    start = int(rng.integers(0, len(noise) - CLIP_SAMPLES + 1))
    seg = noise[start:start + CLIP_SAMPLES]
    p_speech, p_noise = float(np.mean(speech**2)), max(float(np.mean(seg**2)), 1e-12)
    clip += seg * np.float32(np.sqrt(p_speech / (p_noise * 10 ** (rng.uniform(*cfg.snr_db) / 10))))
    rng = rng_for(cfg, _CHANNEL, index, clip_no)
    band = str(rng.choice(realism.BANDS, p=np.array(cfg.band_weights) / sum(cfg.band_weights)))
    codec, clipped = rng.random() < cfg.codec_share, rng.random() < cfg.clip_share
    clip = realism.channel(clip, rng, band=band, eq_db=cfg.eq_db, codec=codec,
                           clip_db=rng.uniform(3, 12) if clipped else 0.0)
    peak = np.abs(clip).max()
    if peak > 0.999:  # scale the whole mix down rather than clip it again
        clip *= 0.999 / peak
    return np.round(clip * 32767).astype(np.int16)


def _noises(cfg: RealConfig, root: Path, voices: list[str]) -> list[np.ndarray]:
    """v1's noises (and street, room tone), written to root/_background_noise_/; float32 each."""
    found = make_noises(cfg, engine(), voices)
    if cfg.extra_noises:
        n = int(cfg.noise_seconds * SAMPLE_RATE)
        for k, (name, make) in enumerate((("street", realism.street_noise),
                                          ("room_tone", realism.room_tone))):
            x = make(rng_for(cfg, _NOISE, 10**6, k), n)
            found[name] = np.round(x * (0.9 * 32767 / np.abs(x).max())).astype(np.int16)
    (root / NOISE_DIR).mkdir()
    for name, x in found.items():
        write_clip(root / NOISE_DIR / f"{name}.wav", x)
    return [x.astype(np.float32) / 32767 for x in found.values()]


def _write(root: Path, cfg: SynthConfig, label: str) -> None:
    """Generate the whole v2 set into `root` (an empty folder), marker last."""
    assert isinstance(cfg, RealConfig)
    eng = engine()
    accents = cfg.accents or english_accents(eng.data_path)
    speakers = draw_speakers(cfg, accents, cfg.variants or voice_variants(eng.data_path))
    extra = []
    for i in range(cfg.speakers):
        rng = rng_for(cfg, _ENGINE, i)
        extra.append({"engine": "pico" if rng.random() < cfg.pico_share else "espeak-ng",
                      "speed": round(float(rng.uniform(*cfg.speed)), 4)})
    lists: dict[str, list[str]] = {"valid": [], "test": []}
    with progress() as bar:
        task = bar.add_task(f"synth_commands_v2 -> {label}", total=cfg.speakers + 1)
        noises = _noises(cfg, root, [s.voice for s in speakers])
        spoken = _speak_pico(cfg, speakers, [e["engine"] for e in extra])
        for word in WORDS_V001:
            (root / word).mkdir()
        bar.advance(task)
        for i, (spk, more) in enumerate(zip(speakers, extra, strict=True)):
            waves = spoken[i] if i in spoken else _speak_speaker(cfg, eng, spk, i)
            if more["speed"] != 1.0:
                waves = [realism.perturb(w, more["speed"]) for w in waves]
            pick = rng_for(cfg, 5, i)
            for k, (word, wave) in enumerate(zip(
                    [w for w in WORDS_V001 for _ in range(cfg.repeats)], waves, strict=True)):
                rel = f"{word}/{spk.id}_nohash_{k % cfg.repeats}.wav"
                noise = noises[int(pick.integers(len(noises)))]
                write_clip(root / rel, _compose(wave, noise, cfg, i, k))
                if spk.split in lists:
                    lists[spk.split].append(rel)
            bar.advance(task)
    for split, name in (("valid", "validation_list.txt"), ("test", "testing_list.txt")):
        (root / name).write_text("".join(f"{p}\n" for p in sorted(lists[split])))
    meta = {"format": "synth_commands", "version": 2,
            "config": json.loads(json.dumps(asdict(cfg))),
            "clips": cfg.speakers * len(WORDS_V001) * cfg.repeats,
            "speakers": [asdict(s) | e for s, e in zip(speakers, extra, strict=True)]}
    (root / MARKER).write_text(json.dumps(meta, indent=1) + "\n")


def generate(out_dir: Path, *, speakers: int | None = None, seed: int | None = None,
             config: RealConfig | None = None) -> Path:
    """Write the v2 set to out_dir unless it is already there (harness.data.synth.generate's
    guarantees: atomic, refuses a folder made with other settings); return it."""
    cfg = config or RealConfig()
    _check(cfg)
    return generate_v1(out_dir, speakers=speakers, seed=seed, config=cfg, write=_write)

