"""The committed gallery (notebooks/figures/) matches the gallery code and the notebooks' words.

* one caption per picture (:data:`eostutor.gallery.CAPTIONS`), one committed PNG per caption;
* every picture a notebook shows has that caption as its alt text, so the text next to a picture states
  what the picture shows;
* every committed PNG fits a laptop's notebook output area (≤ 900 px wide) and carries its caption in its
  metadata: a PNG made before a caption changed fails here (regenerate with
  ``python -m eostutor figures notebooks/figures``).

Rendering the gallery itself is tested in tests/test_plots.py (``test_render_gallery_fast``, slow).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from eostutor.gallery import CAPTIONS
from eostutor.plots import MAX_WIDTH_PX

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "notebooks" / "figures"
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
IMAGE = re.compile(r"!\[([^\]]*)\]\(figures/([\w\-]+)\.png\)")


def test_every_picture_has_a_caption_and_every_caption_a_picture():
    committed = {p.stem for p in FIGURES.glob("*.png")}
    assert committed == set(CAPTIONS), (f"without a caption: {sorted(committed - set(CAPTIONS))}; "
                                        f"not rendered: {sorted(set(CAPTIONS) - committed)}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_alt_text_is_the_caption(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    wrong = [(name, alt) for alt, name in IMAGE.findall(text) if CAPTIONS.get(name) != alt]
    assert not wrong, f"{path.name}: alt text differs from eostutor.gallery.CAPTIONS: {wrong}"


@pytest.mark.parametrize("name", sorted(CAPTIONS))
def test_committed_picture_fits_and_carries_its_caption(name):
    path = FIGURES / f"{name}.png"
    if not path.is_file():
        pytest.fail(f"{path} is missing: python -m eostutor figures notebooks/figures")
    with Image.open(path) as img:
        assert img.width <= MAX_WIDTH_PX, f"{name}.png is {img.width} px wide"
        assert img.info.get("Description") == CAPTIONS[name], (
            f"{name}.png was rendered with another caption: python -m eostutor figures notebooks/figures")
