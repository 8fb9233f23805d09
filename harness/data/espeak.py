"""A small ctypes wrapper around espeak-ng, as shipped by the PyPI package `espeakng-loader`.

    from harness.data.espeak import engine
    eng = engine()                      # loads libespeak-ng.so once per process
    eng.reset(rand_seed=1)              # fresh library state: output depends on what follows only
    wav = eng.speak("marvin", "en-us+f2", rate=160, pitch=60)   # (T,) int16 at 22,050 Hz

espeak-ng is C code with global state, and more of it than its API admits: the pitch "flutter"
phase, the automatic gain control, the echo buffer and the noise generator all carry over from one
utterance to the next, so the same call gives different samples depending on what was said before
in this process (checked: three calls in a row give three different waveforms). Terminate +
Initialize resets none of it (some of it lives in function-level statics). `reset()` therefore
unloads the library (dlclose) and maps it again, which re-initialises every static (about 5 ms).
Caveat: if other code in the process holds the same libespeak-ng.so open, dlclose cannot unload it,
and the output becomes history-dependent again.
"""

from __future__ import annotations

import _ctypes
import ctypes
import threading
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_BUFFER_MS = 1000  # long callback buffers: fewer Python callbacks per word

# int callback(short *wav, int numsamples, espeak_EVENT *events); returning 0 means "go on".
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_ENGINE: Espeak | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> Espeak:
    """The process-wide espeak-ng handle, loaded on first use (the C library is a singleton)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = Espeak()
        return _ENGINE


def _loader_paths() -> tuple[Path, Path]:
    try:
        import espeakng_loader
    except ImportError as e:
        raise HarnessError(
            "espeak-ng is missing: the package `espeakng-loader` is not installed; "
            "fix: pip install espeakng-loader"
        ) from e
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


class Espeak:
    """One loaded libespeak-ng. Each call takes `lock`; hold it yourself across a reset + speak
    sequence whose output must not be interleaved with another thread's calls."""

    def __init__(self) -> None:
        self.library_path, self.data_path = _loader_paths()
        self.lock = threading.RLock()
        self._chunks: list[np.ndarray] = []
        # Keep the ctypes callback object alive as long as the library may call it.
        self._callback = _SynthCallback(self._collect)
        self._lib: ctypes.CDLL | None = None
        self.sample_rate = 0
        self._load()

    # -- library lifetime ---------------------------------------------------------------------

    def _load(self) -> None:
        try:
            lib = ctypes.CDLL(str(self.library_path))
        except OSError as e:
            raise HarnessError(
                f"cannot load {self.library_path}: {e}; fix: pip install --force-reinstall "
                "espeakng-loader"
            ) from e
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, str(self.data_path).encode(), 0
        )
        if rate <= 0:
            raise HarnessError(
                f"espeak-ng failed to initialise with data {self.data_path}; "
                "fix: pip install --force-reinstall espeakng-loader"
            )
        lib.espeak_SetSynthCallback(self._callback)
        self._lib, self.sample_rate = lib, int(rate)

    def reset(self, rand_seed: int) -> None:
        """Unload and reload the library so that every internal static starts afresh.

        `rand_seed` seeds espeak's own noise generator (breathy and whispered variants) and libc
        rand(), which the Klatt "speechPlayer" back-end draws from.
        """
        with self.lock:
            if self._lib is not None:
                self._lib.espeak_Terminate()
                handle, self._lib = self._lib._handle, None
                _ctypes.dlclose(handle)
            self._load()
            assert self._lib is not None
            self._lib.espeak_ng_SetRandSeed(rand_seed & 0x7FFFFFFF)
            ctypes.CDLL(None).srand(ctypes.c_uint(rand_seed & 0xFFFFFFFF))

    # -- synthesis ----------------------------------------------------------------------------

    def _collect(self, wav: ctypes._Pointer, n: int, _events: int) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def set_voice(self, name: str) -> None:
        """Select a voice such as "en-us" or "en-gb-scotland+f2" (language + variant)."""
        assert self._lib is not None
        if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise HarnessError(
                f"espeak-ng has no voice {name!r} in {self.data_path}; fix: choose one of "
                f"{', '.join(english_accents(self.data_path))}"
            )

    def speak(
        self, text: str, voice: str | None, *, rate: int = 175, pitch: int = 50,
        pitch_range: int = 50, volume: int = 100, trim: bool = False,
    ) -> np.ndarray:
        """Synthesize `text`; returns (T,) int16 at `self.sample_rate` (22,050 Hz).

        voice: as for `set_voice`; None keeps the current one (saves ~0.4 ms per call);
        rate: words per minute (80..450); pitch and pitch_range: 0..99 (50 = the voice's own);
        volume: 0..200 percent; trim: cut the leading and trailing silence.
        """
        with self.lock:
            assert self._lib is not None
            if voice is not None:
                self.set_voice(voice)
            for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch),
                                 (_PARAM_RANGE, pitch_range), (_PARAM_VOLUME, volume)):
                self._lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            data = text.encode() + b"\0"
            err = self._lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err} for {text!r}")
            chunks, self._chunks = self._chunks, []
        wave = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return trim_silence(wave) if trim else wave


def trim_silence(wave: np.ndarray) -> np.ndarray:
    """Cut the leading and trailing silence espeak pads with (below 1 % of the peak)."""
    if wave.size == 0:
        return wave
    loud = np.flatnonzero(np.abs(wave.astype(np.int32)) > max(16, np.abs(wave).max() // 100))
    return wave[loud[0] : loud[-1] + 1] if loud.size else wave


def english_accents(data_path: Path) -> tuple[str, ...]:
    """English language voices installed in espeak-ng-data/lang, lower-cased, sorted.

    en-Shaw (the Shavian alphabet) is left out: it is a spelling, not an accent.
    """
    names = {p.name.lower() for p in (data_path / "lang").rglob("en*") if p.is_file()}
    return tuple(sorted(names - {"en-shaw"}))


def voice_variants(data_path: Path) -> tuple[str, ...]:
    """Voice variants installed in espeak-ng-data/voices/!v (used as "LANG+VARIANT"), sorted."""
    return tuple(sorted(p.name for p in (data_path / "voices" / "!v").iterdir() if p.is_file()))
