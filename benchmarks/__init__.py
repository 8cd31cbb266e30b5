"""Benchmark scripts (run from the repository root) and what they share."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_WEATHER_DIR = Path(__file__).resolve().parents[2] / "shared" / "weather"


def parser_with_weather_dir(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by ``doc``'s first line, with ``--weather-dir``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--weather-dir", type=Path, default=DEFAULT_WEATHER_DIR,
                        help="directory of EPW files (default: ../shared/weather)")
    return parser


def epw_files(weather_dir: Path) -> list[Path]:
    """The EPW files in ``weather_dir``, sorted; says so on stderr when there are none."""
    files = sorted(Path(weather_dir).glob("*.epw"))
    if not files:
        print(f"no EPW files in {weather_dir}", file=sys.stderr)
    return files
