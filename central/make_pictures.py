"""Draw the sample events' pictures (PNG, committed under central/pictures/).

A developer tool, not used at run time (it needs Pillow, a test dependency):
    .venv/bin/python -m central.make_pictures
Simple flat shapes, no text: a picture must make sense in every language.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (480, 320)
OUT = Path(__file__).resolve().parent / "pictures"

Draw = Callable[[ImageDraw.ImageDraw], None]


def _book(d: ImageDraw.ImageDraw, x: int, y: int, w: int, h: int, cover: str) -> None:
    d.rectangle((x, y, x + w, y + h), fill=cover, outline="#2b2b2b", width=4)
    d.rectangle((x + w // 2 - 3, y, x + w // 2 + 3, y + h), fill="#2b2b2b")
    for i in range(1, 4):
        yy = y + i * h // 5
        d.line((x + 14, yy, x + w // 2 - 14, yy), fill="#ffffff", width=5)
        d.line((x + w // 2 + 14, yy, x + w - 14, yy), fill="#ffffff", width=5)


def story_hour(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((360, 30, 440, 110), fill="#ffd54f")
    _book(d, 110, 130, 260, 150, "#e57373")
    d.ellipse((60, 60, 130, 130), fill="#8d6e63")  # a bear's head
    d.ellipse((55, 50, 80, 75), fill="#8d6e63")
    d.ellipse((110, 50, 135, 75), fill="#8d6e63")


def toddlers(d: ImageDraw.ImageDraw) -> None:
    for i, colour in enumerate(("#ef5350", "#66bb6a", "#42a5f5", "#ffca28")):
        d.rectangle((70 + i * 90, 200 - i * 30, 150 + i * 90, 280 - i * 30), fill=colour)
    d.ellipse((350, 40, 430, 120), fill="#ff8a65")


def workshop(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((90, 170, 170, 250), outline="#37474f", width=12)  # scissors' handles
    d.ellipse((90, 70, 170, 150), outline="#37474f", width=12)
    d.line((160, 130, 330, 220), fill="#90a4ae", width=14)
    d.line((160, 190, 330, 100), fill="#90a4ae", width=14)
    d.rectangle((340, 190, 430, 280), fill="#ab47bc")
    d.polygon(((300, 60), (420, 60), (360, 150)), fill="#26a69a")


def club(d: ImageDraw.ImageDraw) -> None:
    for i, colour in enumerate(("#5c6bc0", "#26a69a", "#ef5350")):
        x = 70 + i * 130
        d.ellipse((x + 20, 60, x + 90, 130), fill=colour)
        d.pieslice((x, 130, x + 110, 260), 180, 360, fill=colour)
    _book(d, 160, 230, 160, 70, "#ffca28")


def author_visit(d: ImageDraw.ImageDraw) -> None:
    d.ellipse((70, 60, 170, 160), fill="#8d6e63")
    d.pieslice((40, 150, 200, 330), 180, 360, fill="#455a64")
    _book(d, 240, 90, 190, 130, "#42a5f5")
    d.line((250, 260, 420, 240), fill="#37474f", width=8)  # a pen's stroke


def lecture(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((150, 40, 430, 200), fill="#ffffff", outline="#37474f", width=6)
    d.line((180, 90, 400, 90), fill="#42a5f5", width=8)
    d.line((180, 130, 360, 130), fill="#66bb6a", width=8)
    d.ellipse((50, 120, 120, 190), fill="#a1887f")
    d.pieslice((30, 190, 140, 330), 180, 360, fill="#7e57c2")


def seniors(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((170, 40, 310, 290), radius=20, fill="#263238")  # a phone
    d.rectangle((185, 70, 295, 250), fill="#80deea")
    d.ellipse((225, 258, 255, 282), fill="#b0bec5")
    d.ellipse((60, 80, 140, 160), outline="#ffb300", width=10)
    d.ellipse((340, 80, 420, 160), outline="#ffb300", width=10)


def robotics(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((160, 110, 320, 250), fill="#78909c")
    d.rectangle((190, 60, 290, 110), fill="#90a4ae")
    d.ellipse((205, 75, 230, 100), fill="#ffee58")
    d.ellipse((250, 75, 275, 100), fill="#ffee58")
    d.ellipse((170, 240, 220, 290), fill="#37474f")
    d.ellipse((260, 240, 310, 290), fill="#37474f")
    for i, colour in enumerate(("#ef5350", "#42a5f5", "#66bb6a")):
        d.rectangle((360, 200 - i * 40, 440, 240 - i * 40), fill=colour)


def chess(d: ImageDraw.ImageDraw) -> None:
    cell = 36
    for row in range(6):
        for col in range(6):
            colour = "#efebe9" if (row + col) % 2 == 0 else "#6d4c41"
            x, y = 132 + col * cell, 52 + row * cell
            d.rectangle((x, y, x + cell, y + cell), fill=colour)
    d.ellipse((60, 120, 110, 170), fill="#212121")
    d.polygon(((55, 260), (115, 260), (85, 160)), fill="#212121")


def bibliobus(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((60, 110, 420, 250), radius=24, fill="#fb8c00")
    for i in range(4):
        d.rectangle((90 + i * 75, 130, 140 + i * 75, 180), fill="#e3f2fd")
    d.ellipse((110, 225, 170, 285), fill="#263238")
    d.ellipse((310, 225, 370, 285), fill="#263238")
    _book(d, 200, 40, 90, 55, "#43a047")


def family(d: ImageDraw.ImageDraw) -> None:
    sizes = ((70, 60, 1.0), (200, 110, 0.7), (300, 60, 1.0), (400, 130, 0.55))
    for x, top, scale in sizes:
        r = int(35 * scale)
        d.ellipse((x - r, top, x + r, top + 2 * r), fill="#ffab91")
        d.pieslice((x - 2 * r, top + 2 * r, x + 2 * r, top + 6 * r), 180, 360, fill="#5c6bc0")
    d.rectangle((0, 280, 480, 320), fill="#8bc34a")


def winter(d: ImageDraw.ImageDraw) -> None:
    d.polygon(((240, 30), (130, 180), (350, 180)), fill="#2e7d32")
    d.polygon(((240, 90), (100, 270), (380, 270)), fill="#388e3c")
    d.rectangle((220, 270, 260, 310), fill="#6d4c41")
    for x, y, colour in ((200, 150, "#e53935"), (280, 200, "#fdd835"), (190, 230, "#1e88e5")):
        d.ellipse((x - 14, y - 14, x + 14, y + 14), fill=colour)
    for x, y in ((60, 60), (420, 90), (400, 230), (70, 200)):
        d.ellipse((x - 8, y - 8, x + 8, y + 8), fill="#ffffff")


def english(d: ImageDraw.ImageDraw) -> None:
    _book(d, 100, 110, 280, 160, "#1e88e5")
    d.ellipse((190, 20, 290, 100), fill="#ffffff", outline="#1e88e5", width=6)  # a speech bubble
    d.polygon(((215, 90), (235, 120), (245, 95)), fill="#1e88e5")


PICTURES: dict[str, tuple[str, Draw]] = {
    "story_hour": ("#fff3e0", story_hour),
    "toddlers": ("#e8f5e9", toddlers),
    "workshop": ("#f3e5f5", workshop),
    "club": ("#e3f2fd", club),
    "author_visit": ("#fffde7", author_visit),
    "lecture": ("#eceff1", lecture),
    "seniors": ("#fff8e1", seniors),
    "robotics": ("#e0f7fa", robotics),
    "chess": ("#d7ccc8", chess),
    "bibliobus": ("#e1f5fe", bibliobus),
    "family": ("#e1f5fe", family),
    "winter": ("#e3f2fd", winter),
    "english": ("#fce4ec", english),
}


def draw_all(folder: Path = OUT) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (background, draw) in PICTURES.items():
        image = Image.new("RGB", SIZE, background)
        draw(ImageDraw.Draw(image))
        path = folder / f"{name}.png"
        # A palette keeps the files a few kilobytes; the kiosk caches them all.
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32).save(path, optimize=True)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in draw_all():
        print(path, path.stat().st_size, "bytes")
