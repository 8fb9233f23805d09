"""A second speech synthesiser: SVOX Pico, through the PyPI package `py-nanotts` (Apache-2.0).

    wave = speak("seven", "en-GB", speed=1.1, pitch=0.7)   # (T,) int16 at 16 kHz

Pico is the Android 2.x-era concatenative-HMM synthesiser: smoother and more natural than
espeak-ng's formant synthesis, and a different engine, so a model trained on both learns less
of either's artefacts. The package carries its voice data (`py_nanotts/lang/*.bin`, 8 MB, two
English voices: en-US and en-GB, both female) and runs offline on the CPU.

Repeatable only in a clean heap: the binding gives Pico a fresh `malloc` of 2.5 MB per call and
Pico reads some of it before writing it, so the samples depend on what the process freed there
before (checked: the same call gave three different outputs in one process, and others again
after `harness.training.device.keep_freed_memory`). `speak_many` therefore speaks in a forked
child that lets glibc map large blocks afresh and, before each call, hands every free heap page
back to the OS (`malloc_trim`), so that whatever Pico is given reads as zeros: there the same
call gives the same samples whatever the parent did (tests/test_synth_v2.py).
"""

from __future__ import annotations

import ctypes
import multiprocessing

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


Request = tuple[str, str, float, float]  # text, voice, speed, pitch: as `speak` takes them


def speak_many(requests: list[Request]) -> list[np.ndarray]:
    """`speak` each request, in order, in one forked child with a clean heap (above)."""
    if not requests:
        return []
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(_speak_clean, (requests,))


def _speak_clean(requests: list[Request]) -> list[np.ndarray]:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to set
        return [speak(*r[:2], speed=r[2], pitch=r[3]) for r in requests]
    libc.mallopt(-4, 65536)  # M_MMAP_MAX: mmap allowed again (keep_freed_memory sets 0)
    libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: fixed, so 2.5 MB is a fresh map if it can
    out = []
    for text, voice, speed, pitch in requests:
        # A free heap chunk can still serve the 2.5 MB: hand its pages back first, so that
        # they read as zeros (malloc_trim madvises every free page, not just the top).
        libc.malloc_trim(0)
        out.append(speak(text, voice, speed=speed, pitch=pitch))
    return out


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
