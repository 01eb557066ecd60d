"""The browser mixer: ``mixhost live --web`` serves a touch mixer page to any browser.

:mod:`.protocol` (the JSON messages), :mod:`.layout` (the page's description
from the registry), :mod:`.access` (token, ranges, Origin), :mod:`.client`
(one page's queue), :mod:`.server` (aiohttp in its own thread) and
:mod:`.surface` (the surface the live run drives); ``static/`` holds the
page: plain ES modules, no build step.
"""
