"""Speech for the kiosk: text normalised into words, spoken through espeak-ng.

Kivy has no screen reader, so the kiosk speaks for itself. Screens hand the text
they show to a `Speaker`; it is normalised for the language (numbers, dates, times,
money and abbreviations spelled out) and spoken off the caller's thread.

    from kiosk.speech import Speaker, normalise
    normalise("Vrnite 3 knjige do 3. 12. 2025.", "sl")
    # 'Vrnite tri knjige do tretjega decembra dva tisoč petindvajset.'
"""

from __future__ import annotations

from kiosk.speech.languages import LANGUAGES, language_code, normalise
from kiosk.speech.speaker import VOICES, AudioOut, Speaker, StreamOut, WavFiles

__all__ = [
    "LANGUAGES",
    "VOICES",
    "AudioOut",
    "Speaker",
    "StreamOut",
    "WavFiles",
    "language_code",
    "normalise",
]
