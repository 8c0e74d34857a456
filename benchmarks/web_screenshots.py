"""Screenshot the web pages in headless Chromium for docs/web.md: search, paper (light and dark), collection, a phone.

    PYTHONPATH=src python benchmarks/web_screenshots.py INDEX_DIR PMID [OUT_DIR]

OUT_DIR defaults to docs/images (web-*.png). The search is the paper's own title pasted as text, the collection is
the paper and its first neighbour, the dark one is the paper page under prefers-color-scheme: dark.
"""

import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser import chromium, running_server  # noqa: E402
from similar.server.app import create_app  # noqa: E402


def main() -> None:
    index_dir, pmid = sys.argv[1], sys.argv[2]
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / "docs" / "images"
    out.mkdir(parents=True, exist_ok=True)
    app = create_app(index_dir)
    index = app.state.holder.index
    title = index.paper(pmid).title
    other = index.similar(pmid, n=1).neighbors[0].pmid
    shots = [  # name, address, width, height, colour scheme
        ("web-search", "/search?" + urlencode({"q": title}), 1100, 1000, "light"),
        ("web-paper", f"/papers/{pmid}", 1100, 3300, "light"),  # the map is under the list
        ("web-paper-dark", f"/papers/{pmid}?why=1#similar", 1100, 1100, "dark"),
        ("web-collection", f"/collection?positive={pmid},{other}", 1100, 1000, "light"),
        ("web-phone", f"/papers/{pmid}", 390, 844, "light"),
    ]
    with tempfile.TemporaryDirectory() as tmp, running_server(app) as url, chromium(Path(tmp)) as driver:
        for name, address, width, height, scheme in shots:
            driver.set_window_size(width, height)
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            )
            driver.get(url + address)
            driver.execute_script("var d = document.querySelector('details.why'); if (d) { d.open = true; }")
            driver.save_screenshot(str(out / f"{name}.png"))
            print(f"wrote {out / name}.png")


if __name__ == "__main__":
    main()
