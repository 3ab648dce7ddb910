"""One writer for every results table: ``<name>.csv`` (full precision) and
``<name>.md`` (GitHub Markdown, a note below it), both written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import pandas as pd

from tfaudio.atomic import write_text


def write_table(df: pd.DataFrame, out_dir, name: str, note: str = "", index: bool = True,
                decimals: int = 4) -> Dict[str, Path]:
    """Write ``df`` as ``name.csv`` and ``name.md`` in ``out_dir``; returns both paths.

    Integer columns print without decimals, float columns with ``decimals``; a
    MultiIndex becomes one Markdown column per level. ``note`` (e.g. what n is, which
    baseline a row is) goes below the Markdown table.
    """
    out_dir = Path(out_dir)
    csv, md = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    write_text(csv, df.to_csv(index=index))
    shown, shown_index = df, index
    if index and isinstance(df.index, pd.MultiIndex):
        shown, shown_index = df.reset_index(), False
    fmts = ([""] if shown_index else []) + [
        ".0f" if pd.api.types.is_integer_dtype(shown[c]) else f".{decimals}f" for c in shown.columns]
    text = shown.to_markdown(index=shown_index, floatfmt=fmts) + "\n"
    if note:
        text += "\n" + note.rstrip() + "\n"
    write_text(md, text)
    return {f"{name}.csv": csv, f"{name}.md": md}
