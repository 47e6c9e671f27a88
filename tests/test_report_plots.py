import warnings

import pytest
from PIL import Image

from radgrok.report.plots import MANY, plot_accuracy, plot_site_metric


def _groups(n: int) -> dict:
    """n arms of two seeds each, with a test/train accuracy and a radius at two sites."""
    rows = [{"step": s, "test_acc": s / 1000, "train_acc": 1.0, "radius/hidden.0.pre": 1 + s,
             "radius/hidden.1.pre": 2 + s} for s in range(0, 1000, 100)]
    return {f"penalty@batch,p=97,f=0.{i}": [rows, rows] for i in range(n)}


@pytest.mark.parametrize("n", [2, MANY + 1, 50])
def test_a_legend_of_any_length_fits_the_image(tmp_path, n):
    """Past MANY arms the legend goes beside the axes and the image grows to hold it; up to MANY the figure
    keeps its size. Before, 50 arms on the per-site figure made matplotlib give up its layout (a warning)
    and the legend covered the curves."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied" is a UserWarning
        site = plot_site_metric(_groups(n), "radius", tmp_path / "radius.png", "mean ||h||")
        acc = plot_accuracy(_groups(n), tmp_path / "accuracy.png")
    assert site is not None
    w_site, h_site = Image.open(site).size
    w_acc, _ = Image.open(acc).size
    if n <= MANY:  # the figure's own size: two panels of 4.2 x 3.4 inches, 7 x 4.2 at 120 dpi
        assert (w_site, h_site) == (round(2 * 4.2 * 110), round(3.4 * 110)) and w_acc == 7 * 120
    else:  # widened, and the legend's columns fit: wider than the two panels alone
        assert w_site > 2 * 4.2 * 110 and w_acc > 7 * 120
