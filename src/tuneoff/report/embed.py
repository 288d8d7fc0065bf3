"""The JavaScript inlined into report.html, so that its interactive view works offline, from one file.

Vega, Vega-Lite and vega-embed come bundled from the ``vl-convert-python`` package, at the Vega-Lite
version Altair writes specs for. Bundling takes seconds, so the bundle is kept in the user's cache
folder, one file per vl-convert and Vega-Lite version. No torch.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from tuneoff.store.files import write_atomic


def vegalite_version() -> str:
    """Altair's Vega-Lite version as vl-convert names it: 'v6.4.1' -> '6.4'."""
    import altair

    return ".".join(altair.SCHEMA_VERSION.lstrip("v").split(".")[:2])


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tuneoff")) / "vega"


@cache
def vega_bundle() -> str:
    """vega-embed with Vega and Vega-Lite, as one script that sets window.vegaEmbed."""
    version = vegalite_version()
    path = cache_dir() / f"vega-embed-vl{version}-vlconvert{metadata.version('vl-convert-python')}.js"
    if path.is_file():
        return path.read_text(encoding="utf-8")
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=version)  # type: ignore[call-arg]  # snippet has a default
    try:
        write_atomic(path, bundle.encode("utf-8"))
    except OSError:
        pass  # a read-only cache only makes the next report slower to build
    return bundle


def view_script() -> str:
    """The report's own script: the leaderboard's sorter and filter, and the charts' embedding."""
    return resources.files("tuneoff.report").joinpath("view.js").read_text(encoding="utf-8")


def script(code: str) -> str:
    """Code inlined in a <script> element, which ends at the first "</script" (and "<!--" changes its parsing)."""
    if re.search(r"</script|<!--", code, re.IGNORECASE):
        raise ValueError("cannot inline a script that contains '</script' or '<!--'")
    return f"<script>{code}</script>"


def view_html(name: str, spec: dict, linked: bool) -> str:
    """A chart's placeholder and its spec as JSON data (never executed); view.js draws it."""
    data = json.dumps(spec, sort_keys=True, ensure_ascii=False).replace("</", "<\\/")
    return (
        f'<div class="view" id="view-{html.escape(name)}" data-spec="spec-{html.escape(name)}"'
        + (' data-linked="1"' if linked else "")
        + "></div>"
        + f'<script type="application/json" id="spec-{html.escape(name)}">{data}</script>'
    )
