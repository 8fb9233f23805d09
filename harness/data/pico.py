"""A second speech synthesiser: SVOX Pico, through the PyPI package `py-nanotts` (Apache-2.0).

    wave = speak("seven", "en-GB", speed=1.1, pitch=0.7)   # (T,) int16 at 16 kHz

Pico is the Android 2.x-era concatenative-HMM synthesiser: smoother and more natural than
espeak-ng's formant synthesis, and a different engine, so a model trained on both learns less
of either's artefacts. The package carries its voice data (`py_nanotts/lang/*.bin`, 8 MB, two
English voices: en-US and en-GB, both female) and runs offline on the CPU; the same call gives
the same samples (checked: no hidden state between calls, unlike espeak-ng).
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError

VOICES = ("en-US", "en-GB")
VOLUME = 0.5  # Pico's full volume clips its loudest samples at full scale; half does not


def available() -> bool:
    """True if `py-nanotts` imports."""
    try:
        import py_nanotts  # noqa: F401
    except ImportError:
        return False
    return True


def speak(text: str, voice: str, *, speed: float = 1.0, pitch: float = 1.0) -> np.ndarray:
    """Synthesise `text`: (T,) int16 at 16 kHz. speed: 0.2-5 times the voice's own rate
    (above 1 is faster); pitch: 0.5-2 times its own pitch."""
    try:
        from py_nanotts import NanoTTS
    except ImportError as exc:
        raise HarnessError("the Pico synthesiser is missing: the package `py-nanotts` is not "
                           "installed; fix: pip install py-nanotts, or generate a recipe "
                           "without it (pico_share = 0)") from exc
    if voice not in VOICES:
        raise HarnessError(f"Pico has no voice {voice!r}; choose one of {', '.join(VOICES)}")
    pcm = NanoTTS().speak(text, voice=voice, speed=speed, pitch=pitch, volume=VOLUME)
    return np.frombuffer(pcm, dtype="<i2").astype(np.int16)
