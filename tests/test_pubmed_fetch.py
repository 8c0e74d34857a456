"""`similar pubmed fetch` against a local HTTP server: resume after a dropped connection, MD5 checks, no re-download."""

import hashlib
import http.server
import threading

import pytest

from similar.pubmed import fetch

FILES = {
    "pubmed26n0001.xml.gz": b"<first file>" * 2000,
    "pubmed26n0002.xml.gz": b"<dropped then resumed>" * 3000,
    "pubmed26n0003.xml.gz": b"<corrupt on the server>" * 100,
    "pubmed26n0004.xml.gz": b"<no md5 published>" * 100,
}


@pytest.fixture
def nlm():
    """A stand-in for NLM's server: listing, files with Range support, .md5 files; counts what it serves."""
    state = {"gets": [], "ranges": [], "dropped": set()}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _send(self, code, body, extra=None):
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/pubmed/updatefiles/":
                links = "".join(f'<a href="{n}">{n}</a> <a href="{n}.md5">{n}.md5</a>\n' for n in FILES)
                return self._send(200, f"<html><body><pre>{links}</pre></body></html>".encode())
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".md5"):
                base = name[:-4]
                if base not in FILES or base.endswith("0004.xml.gz"):
                    return self._send(404, b"not found")
                digest = hashlib.md5(FILES[base] if "0003" not in base else b"something else").hexdigest()
                return self._send(200, f"MD5({base})= {digest}\n".encode())
            if name not in FILES:
                return self._send(404, b"not found")
            state["gets"].append(name)
            data = FILES[name]
            rng = self.headers.get("Range")
            if rng:
                state["ranges"].append((name, rng))
                start = int(rng.split("=")[1].split("-")[0])
                body = data[start:]
                return self._send(206, body, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
            if "0002" in name and name not in state["dropped"]:
                state["dropped"].add(name)  # promise everything, send a third, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 3])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, data)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pubmed", state
    server.shutdown()


def test_fetch_resumes_verifies_and_never_refetches(tmp_path, nlm):
    base, state = nlm
    report = fetch("updates", tmp_path, base_url=base, progress=False)
    assert report.downloaded == ["pubmed26n0001.xml.gz", "pubmed26n0002.xml.gz"]
    assert report.resumed == ["pubmed26n0002.xml.gz"]
    assert state["ranges"] == [("pubmed26n0002.xml.gz", f"bytes={len(FILES['pubmed26n0002.xml.gz']) // 3}-")]
    failed = dict(report.failed)
    assert failed["pubmed26n0003.xml.gz"].startswith("pubmed26n0003.xml.gz: MD5 ") and failed[
        "pubmed26n0003.xml.gz"
    ].endswith("; removed")
    assert (
        failed["pubmed26n0004.xml.gz"]
        == "no .md5 published for pubmed26n0004.xml.gz (HTTP 404): not downloaded, it could not be verified"
    )
    for name in ("pubmed26n0001.xml.gz", "pubmed26n0002.xml.gz"):
        assert (tmp_path / name).read_bytes() == FILES[name]
    assert not (tmp_path / "pubmed26n0003.xml.gz").exists() and not list(tmp_path.glob("*.part"))
    assert state["gets"].count("pubmed26n0003.xml.gz") == 2  # one clean retry of a corrupt file, then it is given up

    gets_before = len(state["gets"])
    again = fetch("updates", tmp_path, base_url=base, progress=False)
    assert again.already_verified == ["pubmed26n0001.xml.gz", "pubmed26n0002.xml.gz"] and not again.downloaded
    assert [g for g in state["gets"][gets_before:]] == ["pubmed26n0003.xml.gz", "pubmed26n0003.xml.gz"]


def test_fetch_unknown_kind_and_unreachable_server(tmp_path):
    from similar.errors import SimilarError

    with pytest.raises(SimilarError, match="^unknown kind 'daily': use baseline or updates$"):
        fetch("daily", tmp_path)
    with pytest.raises(SimilarError, match=r"^cannot list http://127.0.0.1:9/pubmed/baseline/: "):
        fetch("baseline", tmp_path, base_url="http://127.0.0.1:9/pubmed", progress=False)
