"""Make docs/twin-run.png, the README's picture of `twin run`: the command's output recorded by
Rich, exported as HTML and photographed by headless Chromium (Debian: chromium), no network.
The dashboard's pictures come from tests/test_dashboard.py (TWIN_DOCS_SCREENSHOTS=1).

    python docs/screenshot_run.py
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from rich.console import Console

import twin.cli as cli

OUT = Path(__file__).with_name("twin-run.png")
WIDTH, HEIGHT = 1200, 1060  # px: the three tables at 160 columns, 12 px monospace
PAGE = ('<html><head><meta charset="utf-8"><style>body{{background:#fff;margin:8px}}'
        'pre{{font:12px/1.25 "DejaVu Sans Mono",monospace}}</style></head>'
        "<body><pre>{code}</pre></body></html>")


def main() -> None:
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("headless Chromium is not installed (Debian: apt-get install chromium)")
    cli.console = Console(record=True, width=160, force_terminal=True, color_system="truecolor")
    cli.console.status = lambda *args, **kwargs: contextlib.nullcontext()  # no spinner frames
    cli.err_console = Console(stderr=True, quiet=True)
    with contextlib.suppress(SystemExit):
        cli.app(["run"], standalone_mode=False)
    with tempfile.TemporaryDirectory() as folder:
        page, shot = Path(folder) / "run.html", Path(folder) / "run.png"
        page.write_text(cli.console.export_html(inline_styles=True, code_format=PAGE),
                        encoding="utf-8")
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
                        f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
                        f"--screenshot={shot}", page.as_uri()], check=True,
                       capture_output=True)
        with Image.open(shot) as image:  # 64 colours: text on white, a third of the bytes
            image.convert("RGB").quantize(64).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
