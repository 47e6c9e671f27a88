import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from radgrok.report.html import markdown_to_html, write_html  # noqa: E402


def test_html_references_the_pngs_beside_it_or_embeds_them(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "a.png")
    plt.close(fig)
    md = ("# Title\n\nSome **bold** and `code` < 3.\n\n| claim | verdict |\n|---|---|\n| x | **reproduced** |\n"
          "| y | **not reproduced** (why) |\n| z | **direction only** |\n"
          "| w | **open** |\n\n- item\n\n![a](a.png)\n\n![gone](missing.png)\n\n```\nradgrok reproduce table2\n```\n")
    html = markdown_to_html(md, tmp_path)
    assert "<h1>Title</h1>" in html and "<b>bold</b>" in html and "&lt; 3" in html
    assert 'class="reproduced"' in html and 'class="not"' in html and "<li>item</li>" in html
    assert 'class="direction"' in html and 'class="open"' in html
    assert '<img alt="a" src="a.png">' in html and "base64" not in html  # the PNG beside it, not a copy
    embedded = markdown_to_html(md, tmp_path, embed=True)
    assert 'src="data:image/png;base64,' in embedded and 'src="a.png"' not in embedded
    assert "missing figure missing.png" in html and "<pre>radgrok reproduce table2</pre>" in html
    out = write_html(md, tmp_path / "r.html")
    assert out.read_text() == html and 'src="http' not in html
