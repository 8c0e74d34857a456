"""Self-contained HTML and JavaScript for the "Similar Papers" widget, its script snippet and the embed page."""

from __future__ import annotations

import html
import json
import re

from ..index import PaperInfo, SimilarList
from ..outward import clean

THEMES = {
    "light": {"bg": "#ffffff", "fg": "#1b1f24", "muted": "#5b6472", "link": "#0b57d0", "border": "#d9dee5"},
    "dark": {"bg": "#15181d", "fg": "#e6e9ee", "muted": "#9aa4b2", "link": "#8ab4f8", "border": "#2c323b"},
}


def _style(theme: str) -> str:
    t = THEMES.get(theme, THEMES["light"])
    return (
        f"body{{margin:0;background:{t['bg']};color:{t['fg']};font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}}"
        f".similar-papers{{padding:12px 14px;border:1px solid {t['border']};border-radius:8px;background:{t['bg']};color:{t['fg']}}}"
        f".similar-papers h2{{font-size:15px;margin:0 0 8px}}"
        f".similar-papers ol{{margin:0;padding-left:20px}}"
        f".similar-papers li{{margin:0 0 8px}}"
        f".similar-papers a{{color:{t['link']};text-decoration:none}}"
        f".similar-papers a:hover{{text-decoration:underline}}"
        f".similar-papers .meta{{color:{t['muted']};font-size:12px}}"
        f".similar-papers .why{{color:{t['muted']};font-size:12px;font-style:italic}}"
        f".similar-papers .retracted{{color:#b3261e;font-weight:600;font-size:12px}}"
    )


def _items(result: SimilarList) -> str:
    rows = []
    for n in result.neighbors:
        meta = " · ".join(html.escape(clean(x)) for x in (n.authors_short, n.journal, n.year) if x)
        mark = f' <span class="retracted">{html.escape(RETRACTED)}</span>' if n.retracted else ""
        rows.append(
            f'<li data-pmid="{n.pmid}"><a href="{n.url}" target="_blank" rel="noopener">{_text(n.title)}</a>{mark}'
            f'<div class="meta">{meta}{" · " if meta else ""}PMID {n.pmid}</div>{_terms(n)}</li>'
        )
    return "\n".join(rows)


def _text(value) -> str:
    """Data shown on a page: cleaned (outward.clean: no controls, no BiDi override), escaped, and isolated in <bdi> so
    right-to-left text cannot reorder what follows it."""
    return f"<bdi>{html.escape(clean(value))}</bdi>"


def _terms(n) -> str:
    """The top shared terms under a title, when the list was explained."""
    if n.why is None or not n.why.terms:
        return ""
    words = ", ".join(html.escape(clean(t.term)) for t in n.why.terms[:EXPLAIN_TERMS])
    return f'<div class="why">shared terms: {words}</div>'


EXPLAIN_TERMS = 5
RETRACTED = "Retracted"


def widget_page(result: SimilarList, theme: str = "light") -> str:
    """The list as a page of its own, fit for an iframe: no external assets, links open PubMed in a new tab."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Similar papers to PMID {result.seed.pmid}</title><style>{_style(theme)}</style></head>
<body><section class="similar-papers" data-seed="{result.seed.pmid}" data-method="{result.method}">
<h2>Similar Papers</h2>
<ol>
{_items(result)}
</ol></section></body></html>"""


NOT_FOUND_TEXT = "No similar papers are available for this article yet."
UNAVAILABLE = "Similar papers are unavailable right now."
READER_PAGES = ("/widget", "/embed")  # pages for people, not programs: bad input is answered with a page


def for_readers(path: str) -> bool:
    """Whether a request path is one of the pages for people (the widget page, the embed page), not /widget.js."""
    return any(path == p or path.startswith(p + "/") for p in READER_PAGES)


def reader_line(first: dict) -> str:
    """One plain sentence for a request validation error on a reader page."""
    where = [str(p) for p in first.get("loc", [])]
    name, given = (where[-1] if where else "request"), first.get("input")
    if where[:1] == ["path"] and name == "pmid":
        return f"{given!r} is not a PubMed ID: a PMID is a number, such as 7504954."
    kind, ctx = first.get("type"), first.get("ctx") or {}
    choices = re.fullmatch(r"\^\(([\w|-]+)\)\$", str(ctx.get("pattern", "")))
    rule = {
        "greater_than_equal": f"at least {ctx.get('ge')}",
        "less_than_equal": f"at most {ctx.get('le')}",
        "int_parsing": "a whole number",
        "bool_parsing": "true or false",
        "string_pattern_mismatch": f"one of {', '.join(choices.group(1).split('|'))}" if choices else None,
    }.get(kind)
    if rule:
        return f"The {name} parameter must be {rule}, not {given!r}."
    return f"The {name} parameter {given!r} is not accepted: {first.get('msg', 'invalid value')}."


def widget_error(message: str, theme: str = "light") -> str:
    """One line for a reader, on a page that looks like the widget (bad address, unknown paper, server trouble)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Similar papers</title><style>{_style(theme)}</style></head>
<body><section class="similar-papers"><h2>Similar Papers</h2><p class="meta">{html.escape(clean(message))}</p></section></body></html>"""


WIDGET_JS = r"""/* similar: turns <div data-similar-pmid="..."> into a "Similar Papers" list (data-similar-explain: shared terms under each title). */
(function () {
  var script = document.currentScript;
  var origin = script ? new URL(script.src, location.href).origin : location.origin;
  var THEMES = __THEMES__;
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }
  function render(el, data, theme) {
    var t = THEMES[theme] || THEMES.light;
    var items = data.neighbors.map(function (n) {
      var meta = [n.authors_short, n.journal, n.year].filter(Boolean).map(esc).join(" \u00b7 ");
      return '<li data-pmid="' + esc(n.pmid) + '" style="margin:0 0 8px">' +
        '<a href="' + esc(n.url) + '" target="_blank" rel="noopener" style="color:' + t.link + ';text-decoration:none"><bdi>' + esc(n.title) + '</bdi></a>' +
        (n.retracted ? ' <span class="retracted" style="color:#b3261e;font-weight:600;font-size:12px">' + esc("Retracted") + '</span>' : '') +
        '<div style="color:' + t.muted + ';font-size:12px">' + meta + (meta ? " \u00b7 " : "") + 'PMID ' + esc(n.pmid) + '</div>' +
        (n.why && n.why.terms && n.why.terms.length ? '<div class="why" style="color:' + t.muted + ';font-size:12px;font-style:italic">shared terms: ' +
          n.why.terms.slice(0, 5).map(function (x) { return esc(x.term); }).join(", ") + '</div>' : '') + '</li>';
    }).join("");
    el.innerHTML = '<section class="similar-papers" style="padding:12px 14px;border:1px solid ' + t.border +
      ';border-radius:8px;background:' + t.bg + ';color:' + t.fg + ';font:14px/1.4 system-ui,sans-serif">' +
      '<h2 style="font-size:15px;margin:0 0 8px">Similar Papers</h2><ol style="margin:0;padding-left:20px">' + items + '</ol></section>';
  }
  function load(el) {
    var pmid = el.getAttribute("data-similar-pmid");
    var n = el.getAttribute("data-similar-n") || "5";
    var theme = el.getAttribute("data-similar-theme") || "light";
    var explain = el.hasAttribute("data-similar-explain") && el.getAttribute("data-similar-explain") !== "false";
    var extra = "";  /* filters: data-similar-type="review;clinical-trial", -mesh, -journal, -language (";" between values), -species, -exclude-retracted, -min-year, -max-year */
    [["type", "type"], ["mesh", "mesh"], ["journal", "journal"], ["language", "language"]].forEach(function (f) {
      var v = el.getAttribute("data-similar-" + f[0]);
      if (v) { v.split(";").forEach(function (x) { if (x.trim()) { extra += "&" + f[1] + "=" + encodeURIComponent(x.trim()); } }); }
    });
    [["species", "species"], ["min-year", "min_year"], ["max-year", "max_year"]].forEach(function (f) {
      var v = el.getAttribute("data-similar-" + f[0]);
      if (v) { extra += "&" + f[1] + "=" + encodeURIComponent(v); }
    });
    if (el.hasAttribute("data-similar-exclude-retracted") && el.getAttribute("data-similar-exclude-retracted") !== "false") { extra += "&exclude_retracted=true"; }
    fetch(origin + "/v1/papers/" + encodeURIComponent(pmid) + "/similar?n=" + encodeURIComponent(n) + (explain ? "&explain=true" : "") + extra)
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; }); })
      .then(function (res) {
        if (!res.ok) { el.textContent = res.status === 404 ? __NOT_FOUND__ : "Similar papers are unavailable."; return; }
        render(el, res.body, theme);
      })
      .catch(function () { el.textContent = "Similar papers are unavailable."; });
  }
  function start() { Array.prototype.forEach.call(document.querySelectorAll("[data-similar-pmid]"), load); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
""".replace("__THEMES__", json.dumps(THEMES)).replace("__NOT_FOUND__", json.dumps(NOT_FOUND_TEXT))


DOWNLOADS = (("ris", "RIS"), ("bibtex", "BibTeX"), ("csl-json", "CSL-JSON"), ("csv", "CSV"))


def embed_page(paper: PaperInfo, base_url: str, note: str = "") -> str:
    """What a literature site offers under a paper: both snippets, a copy button each, and a live preview. The base URL
    (SIMILAR_PUBLIC_URL, the server's own address, or a placeholder: never a Host header's word) is in the snippets
    only, escaped; the preview and downloads are relative."""
    base_url = html.escape(base_url, quote=True)
    note = f'<p class="meta" id="public-url">{html.escape(note)}</p>' if note else ""
    script_snippet = (
        f'<div data-similar-pmid="{paper.pmid}" data-similar-n="5"></div>\n'
        f'<script src="{base_url}/widget.js" async></script>'
    )
    iframe_snippet = (
        f'<iframe src="{base_url}/widget/{paper.pmid}?n=5" width="420" height="480" '
        f'style="border:0" title="Similar papers"></iframe>'
    )
    downloads = " · ".join(
        f'<a class="download" href="/v1/papers/{paper.pmid}/similar?n=20&amp;format={f}" ' f"download>{name}</a>"
        for f, name in DOWNLOADS
    )
    block = lambda name, code: (
        f'<h3>{name}</h3><pre id="{name}"><code>{html.escape(code)}</code></pre>'
        f'<button type="button" data-copy="{name}">Copy</button>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Embed similar papers for PMID {paper.pmid}</title>
<style>{_style("light")} main{{max-width:760px;margin:24px auto;padding:0 16px}} pre{{background:#f4f6f8;padding:10px;border-radius:6px;white-space:pre-wrap;word-break:break-all}}
button{{padding:4px 12px;border-radius:6px;border:1px solid #c5ccd6;background:#fff;cursor:pointer}}</style></head>
<body><main>
<h1 style="font-size:20px">Embed "Similar Papers" for PMID {paper.pmid}</h1>
<p>{_text(paper.title)}</p>
<p>Free, no account required. Paste either snippet into your page.
Filters go in attributes: <code>data-similar-type="review"</code>, <code>data-similar-mesh="Humans"</code>,
<code>data-similar-exclude-retracted</code> (and <code>?type=review&amp;exclude_retracted=true</code> on the iframe's URL).</p>
<p>Download the list: {downloads}</p>
{note}
{block("script", script_snippet)}
{block("iframe", iframe_snippet)}
<h3>Preview</h3>
<iframe src="/widget/{paper.pmid}?n=5" width="420" height="480" style="border:0" title="Similar papers"></iframe>
</main>
<script>
document.querySelectorAll("button[data-copy]").forEach(function (b) {{
  b.addEventListener("click", function () {{
    var text = document.getElementById(b.getAttribute("data-copy")).innerText;
    (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(
      function () {{ b.textContent = "Copied"; }}, function () {{ b.textContent = "Select and copy"; }});
  }});
}});
</script></body></html>"""
