"""The kiosk's voice: espeak-ng, one utterance at a time, off the caller's thread.

- `say()` returns at once; a worker thread normalises the text and runs espeak-ng.
- A new `say()` first kills the utterance in progress (and waits until that
  process is gone), so two never overlap; `stop()` kills it when the patron moves on.
- Where the sound goes is an output: `AudioOut` plays through the sound card
  (espeak-ng's own audio), `WavFiles` writes one WAV per utterance (tests, CI, no
  sound card), `StreamOut` hands espeak-ng's `--stdout` WAV stream to a function
  (to route it to another player or device).
- Personal data (names, fees, titles on loan) is spoken only through headphones:
  `say(..., private=True)` does nothing and returns False unless `headphones` is set.
  Detecting headphones is the platform's job; this only keeps the flag.
- Without espeak-ng the speaker is unavailable: `available` is False,
  `unavailable_reason` says why in one sentence, `say()` returns False. It never
  raises into the app for a missing or failing espeak-ng.

The text itself is never logged (it may be personal).
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiosk.speech.languages import language_code, normalise

log = logging.getLogger(__name__)

# espeak-ng voice per kiosk language (`espeak-ng --voices` lists: sl Slovenian,
# en-gb English_(Great_Britain), hu Hungarian, it Italian).
VOICES: dict[str, str] = {"sl": "sl", "en": "en-gb", "hu": "hu", "it": "it"}
RATE_LIMITS = (80, 450)  # espeak-ng's words per minute
DEFAULT_RATE = 165  # a little slower than espeak-ng's 175: the patron may be a child or senior
_CHUNK = 16384


class Output(Protocol):
    """Where an utterance's audio goes."""

    def arguments(self, utterance: int) -> list[str]:
        """Extra espeak-ng arguments for this utterance."""
        ...

    def finished(self, utterance: int, completed: bool) -> None:
        """Called once the utterance ended; completed is False when it was interrupted."""
        ...


class AudioOut:
    """Play through the default sound device (espeak-ng's own audio output)."""

    def arguments(self, utterance: int) -> list[str]:
        return []

    def finished(self, utterance: int, completed: bool) -> None:
        pass


class WavFiles:
    """Write each utterance to `directory/utterance-0001.wav`; an interrupted utterance's
    partial file is removed. `written` lists the completed files in order."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.written: list[Path] = []
        self._lock = threading.Lock()

    def path(self, utterance: int) -> Path:
        return self.directory / f"utterance-{utterance:04d}.wav"

    def arguments(self, utterance: int) -> list[str]:
        return ["-w", str(self.path(utterance))]

    def finished(self, utterance: int, completed: bool) -> None:
        path = self.path(utterance)
        with self._lock:
            if completed and path.exists():
                self.written.append(path)
            else:
                path.unlink(missing_ok=True)


class StreamOut:
    """espeak-ng writes a WAV stream to its stdout; each chunk is handed to `consume`
    (on the speaker's worker thread), then `done(completed)` once the utterance ends."""

    def __init__(
        self, consume: Callable[[bytes], None], done: Callable[[bool], None] | None = None
    ) -> None:
        self.consume = consume
        self.done = done

    def arguments(self, utterance: int) -> list[str]:
        return ["--stdout"]

    def finished(self, utterance: int, completed: bool) -> None:
        if self.done is not None:
            self.done(completed)


@dataclass(frozen=True)
class _Request:
    generation: int
    text: str
    lang: str


class Speaker:
    """Speaks text in sl, en, hu or it through espeak-ng; see the module docstring."""

    def __init__(
        self,
        *,
        rate: int = DEFAULT_RATE,
        headphones: bool = False,
        output: Output | None = None,
        executable: str = "espeak-ng",
        voices: Mapping[str, str] = VOICES,
    ) -> None:
        self.rate = rate
        self.headphones = headphones
        self.output: Output = output or AudioOut()
        self.voices = dict(voices)
        self._program = shutil.which(executable)
        self.unavailable_reason: str | None = None
        if self._program is None:
            self.unavailable_reason = (
                f"Speech is off: the program {executable!r} was not found "
                "(install the Debian package espeak-ng)."
            )
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Event()
        self._idle.set()
        self._pending: _Request | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._utterances = itertools.count(1)
        self._worker: threading.Thread | None = None
        self._closed = False
        self._voices_found: frozenset[str] | None = None

    # ------------------------------------------------------------ settings and state

    @property
    def rate(self) -> int:
        """Speed in words per minute (espeak-ng's -s), 80 to 450."""
        return self._rate

    @rate.setter
    def rate(self, value: int) -> None:
        low, high = RATE_LIMITS
        if not low <= value <= high:
            raise ValueError(f"The speech rate must be between {low} and {high} words a minute.")
        self._rate = value

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    def speaking(self) -> bool:
        """True while an utterance is waiting or being spoken."""
        return not self._idle.is_set()

    @property
    def process_id(self) -> int | None:
        """The espeak-ng process of the current utterance, if one is running."""
        with self._lock:
            return self._process.pid if self._process else None

    def missing_voices(self) -> list[str]:
        """The kiosk languages whose espeak-ng voice is not installed (for diagnostics)."""
        installed = self._installed_voices()
        return [lang for lang, voice in self.voices.items() if voice not in installed]

    def _installed_voices(self) -> frozenset[str]:
        """Voices espeak-ng lists, asked once. (Given a voice it lacks, espeak-ng reading
        --stdin quietly speaks with its default English voice instead.)"""
        if self._voices_found is None:
            listing = ""
            if self._program is not None:
                try:
                    listing = subprocess.run(
                        [self._program, "--voices"], capture_output=True, text=True, timeout=10
                    ).stdout
                except (OSError, subprocess.SubprocessError):
                    log.exception("Could not list the espeak-ng voices")
            rows = (line.split() for line in listing.splitlines()[1:])
            self._voices_found = frozenset(row[1] for row in rows if len(row) > 1)
        return self._voices_found

    # ------------------------------------------------------------ speaking

    def say(self, text: str, lang: str = "sl", *, private: bool = False) -> bool:
        """Speak `text` in `lang` (normalised first), replacing whatever is being said.

        Returns at once: True if the utterance was started, False if nothing will be
        said (speech unavailable, the language's voice missing, empty text, or private
        text without headphones). The first call asks espeak-ng for its voices (~10 ms)."""
        code = language_code(lang)  # a plain ValueError for a language we can't speak
        if not self.available or self._closed:
            return False
        if private and not self.headphones:
            log.info("Private text not spoken: no headphones")
            return False
        if not text.strip():
            self.stop()
            return False
        if self.voices[code] not in self._installed_voices():  # asked once, then cached
            log.error("The espeak-ng voice %r for %s is not installed", self.voices[code], code)
            return False
        with self._lock:
            self._generation += 1
            self._kill_current()
            self._pending = _Request(self._generation, text, code)
            self._idle.clear()
            self._wake.notify()
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="speaker", daemon=True)
                self._worker.start()
        return True

    def stop(self) -> None:
        """Silence at once: kill the utterance in progress, drop the one waiting."""
        with self._lock:
            self._generation += 1
            self._pending = None
            self._kill_current()
            self._idle.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is being said; False if still speaking after timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop speaking and end the worker thread."""
        self.stop()
        with self._lock:
            self._closed = True
            self._wake.notify()
        if self._worker is not None:
            self._worker.join(timeout=5)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ worker

    def _kill_current(self) -> None:
        """Kill the running espeak-ng and wait until it is gone (lock held)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            log.error("espeak-ng (pid %d) did not end after SIGKILL", process.pid)
        self._process = None

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
            try:
                self._speak(request)
            except Exception:  # the kiosk must go on without its voice
                log.exception("Speaking failed")
            with self._lock:
                if self._pending is None and self._process is None:
                    self._idle.set()

    def _speak(self, request: _Request) -> None:
        try:
            words = normalise(request.text, request.lang)
        except Exception:  # a normaliser bug must not silence the kiosk
            log.exception("Normalising %s text failed; speaking it as written", request.lang)
            words = request.text
        utterance = next(self._utterances)
        stream = isinstance(self.output, StreamOut)
        command = [
            self._program or "espeak-ng",
            *("-v", self.voices[request.lang], "-s", str(self.rate), "-b", "1"),
            *self.output.arguments(utterance),
            "--stdin",
        ]
        with self._lock:
            if request.generation != self._generation:
                return  # replaced or stopped while we were normalising
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE if stream else subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as exc:
                self.unavailable_reason = f"Speech is off: espeak-ng could not start ({exc})."
                log.error("%s", self.unavailable_reason)
                return
            self._process = process
        log.debug("Speaking %d characters in %s", len(words), request.lang)
        try:
            assert process.stdin is not None
            process.stdin.write(words.encode("utf-8"))
            process.stdin.close()
        except OSError:
            pass  # killed before it read the text
        if stream:
            self._pump(process, request.generation)
        process.wait()
        with self._lock:
            if self._process is process:
                self._process = None
            completed = process.returncode == 0 and request.generation == self._generation
        if process.returncode > 0:
            log.warning("espeak-ng ended with exit code %d", process.returncode)
        self.output.finished(utterance, completed)

    def _pump(self, process: subprocess.Popen[bytes], generation: int) -> None:
        """Hand the WAV stream to the StreamOut consumer until it ends or is interrupted."""
        assert process.stdout is not None and isinstance(self.output, StreamOut)
        with process.stdout:
            while chunk := process.stdout.read1(_CHUNK):
                if generation != self._generation:
                    return
                self.output.consume(chunk)
