"""Screenshot the widget as a host page shows it (script snippet and iframe) in headless Chromium.

python benchmarks/widget_screenshot.py INDEX_DIR PMID benchmarks/results/widget.png"""
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import chromium, running_server, static_site  # noqa: E402

from similar.server.app import create_app  # noqa: E402

index_dir, pmid, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    with running_server(create_app(index_dir)) as api:
        (tmp / "site").mkdir()
        (tmp / "site" / "index.html").write_text(
            f'<!doctype html><html><body style="font-family:sans-serif;margin:20px;display:flex;gap:24px">'
            f'<div style="width:420px"><h3>script snippet, light</h3><div data-similar-pmid="{pmid}" data-similar-n="5"></div></div>'
            f'<div><h3>iframe snippet, dark</h3><iframe src="{api}/widget/{pmid}?n=5&theme=dark" width="420" height="560" style="border:0"></iframe></div>'
            f'<script src="{api}/widget.js" async></script></body></html>')
        with static_site(tmp / "site") as site, chromium(tmp) as driver:
            driver.set_window_size(960, 720)
            driver.get(f"{site}/index.html")
            time.sleep(3)
            driver.save_screenshot(str(out))
print(f"wrote {out}")
