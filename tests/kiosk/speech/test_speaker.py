"""The Speaker through the real espeak-ng: WAV files per language, interruption,
no overlap, privacy, and a kiosk without espeak-ng."""

from __future__ import annotations

import os
import shutil
import threading
import time
import wave
from array import array
from pathlib import Path

import pytest

from kiosk.speech import VOICES, Speaker, StreamOut, WavFiles
from tests.helpers import bounded

PHRASES = {
    "sl": "Pravljična ura bo v sredo, 3. 12. 2025, ob 17:00 v 1. nadstropju.",
    "en": "Story hour is on Wednesday, 3 December 2025, at 17:00 on the 1st floor.",
    "hu": "A mesedélután 2025. december 3-án 17:00-kor lesz.",
    "it": "L'ora delle fiabe è il 3 dicembre 2025 alle 17:00.",
}
LONG_TEXT = " ".join(["Danes je lep dan in v knjižnici berejo pravljice."] * 60)


@pytest.fixture(autouse=True)
def _needs_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: ./dev test installs it (Debian package espeak-ng)")


def wav_facts(path: Path) -> tuple[float, int]:
    """(seconds, loudest sample) of a 16-bit mono WAV file."""
    with wave.open(str(path)) as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = array("h", frames)
    return seconds, max(map(abs, samples), default=0)


def speak_to_wav(tmp_path: Path, text: str, lang: str, **options: int) -> Path:
    output = WavFiles(tmp_path)
    with Speaker(output=output, **options) as speaker:  # type: ignore[arg-type]
        assert speaker.say(text, lang)
        assert speaker.wait(10), "the utterance did not finish"
    assert len(output.written) == 1
    return output.written[0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class SlowListener:
    """A StreamOut consumer that takes its time, like a sound card playing in real time."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.endings: list[bool] = []
        self.first_chunk = threading.Event()
        self.ended = threading.Event()

    def consume(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.first_chunk.set()
        time.sleep(0.05)

    def done(self, completed: bool) -> None:
        self.endings.append(completed)
        self.ended.set()

    def output(self) -> StreamOut:
        return StreamOut(self.consume, self.done)


@pytest.mark.parametrize("lang", sorted(VOICES))
def test_each_language_is_spoken_into_a_real_wav(tmp_path: Path, lang: str) -> None:
    seconds, loudest = wav_facts(speak_to_wav(tmp_path, PHRASES[lang], lang))
    assert seconds > 1.5, f"{lang}: only {seconds:.2f} s of speech"
    assert loudest > 1000, f"{lang}: the WAV is silent"


def test_the_voices_are_installed() -> None:
    assert Speaker().missing_voices() == []


def test_text_is_normalised_before_speaking(tmp_path: Path) -> None:
    written = speak_to_wav(tmp_path / "raw", "Dolgujete 1.234,50 € do 3. 12.", "sl")
    words = "Dolgujete tisoč dvesto štiriintrideset evrov in petdeset centov do tretjega decembra"
    spelled = speak_to_wav(tmp_path / "words", words, "sl")
    assert written.read_bytes() == spelled.read_bytes()  # espeak-ng heard the same words


def test_rate_changes_the_length_of_speech(tmp_path: Path) -> None:
    slow, _ = wav_facts(speak_to_wav(tmp_path / "slow", PHRASES["sl"], "sl", rate=100))
    fast, _ = wav_facts(speak_to_wav(tmp_path / "fast", PHRASES["sl"], "sl", rate=300))
    assert slow > 1.8 * fast
    with pytest.raises(ValueError, match="between 80 and 450"):
        Speaker(rate=20)


def test_say_returns_at_once_and_stop_interrupts_quickly() -> None:
    listener = SlowListener()
    with Speaker(output=listener.output()) as speaker:
        started = time.monotonic()
        assert speaker.say(LONG_TEXT, "sl")
        assert time.monotonic() - started < 0.2, "say() blocked the caller"
        assert listener.first_chunk.wait(5), "espeak-ng produced no audio"
        pid = speaker.process_id
        assert pid is not None and alive(pid) and speaker.speaking

        started = time.monotonic()
        bounded(speaker.stop, 2)
        assert time.monotonic() - started < 0.5
        assert not speaker.speaking and speaker.process_id is None
        assert not alive(pid), "espeak-ng still runs after stop()"
        assert listener.ended.wait(2)
        heard = len(listener.chunks)
        time.sleep(0.3)
        assert len(listener.chunks) <= heard + 1, "audio kept coming after stop()"
    assert listener.endings == [False]


def test_a_new_utterance_replaces_the_one_being_spoken() -> None:
    listener = SlowListener()
    with Speaker(output=listener.output()) as speaker:
        assert speaker.say(LONG_TEXT, "sl")
        assert listener.first_chunk.wait(5)
        first = speaker.process_id
        assert first is not None

        assert speaker.say("Nasvidenje.", "sl")
        assert not alive(first), "the first utterance still runs: two would overlap"
        assert speaker.wait(10)
        assert speaker.process_id is None
    assert listener.endings == [False, True]  # the first cut short, the second complete


def test_private_text_only_through_headphones(tmp_path: Path) -> None:
    output = WavFiles(tmp_path)
    with Speaker(output=output) as speaker:
        assert speaker.say("Dolgujete 2,40 €.", "sl", private=True) is False
        assert not speaker.speaking
        speaker.headphones = True
        assert speaker.say("Dolgujete 2,40 €.", "sl", private=True) is True
        assert speaker.wait(10)
    assert len(output.written) == 1
    assert list(tmp_path.iterdir()) == output.written


def test_interrupted_wav_is_not_kept(tmp_path: Path) -> None:
    output = WavFiles(tmp_path)
    with Speaker(output=output) as speaker:
        speaker.say(LONG_TEXT * 3, "sl")
        deadline = time.monotonic() + 5
        while speaker.process_id is None and time.monotonic() < deadline:
            time.sleep(0.005)
        speaker.stop()
        speaker.say("Hvala.", "sl")
        assert speaker.wait(10)
    assert [path.name for path in tmp_path.iterdir()] == [output.written[0].name]


def test_a_missing_voice_is_refused_not_replaced_by_english(tmp_path: Path) -> None:
    output = WavFiles(tmp_path)
    voices = {**VOICES, "hu": "no-such-voice"}
    with Speaker(output=output, voices=voices) as speaker:
        assert speaker.missing_voices() == ["hu"]
        assert speaker.say("2025. december 3.", "hu") is False
        assert not speaker.speaking and output.written == []
        assert speaker.say("Hvala.", "sl")
        assert speaker.wait(10)
    assert len(output.written) == 1


def test_without_espeak_the_speaker_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without espeak-ng
    speaker = Speaker(output=WavFiles(tmp_path / "out"))
    assert not speaker.available
    assert speaker.unavailable_reason is not None and "espeak-ng" in speaker.unavailable_reason
    assert speaker.say("Dober dan.", "sl") is False
    assert speaker.missing_voices() == sorted(VOICES, key=list(VOICES).index)
    speaker.stop()
    assert speaker.wait(0.1)
    speaker.close()


def test_empty_text_is_not_spoken(tmp_path: Path) -> None:
    with Speaker(output=WavFiles(tmp_path)) as speaker:
        assert speaker.say("   ", "sl") is False
        with pytest.raises(ValueError, match="cannot speak"):
            speaker.say("Guten Tag", "de")
