"""The README's plugin example, rendered as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from host.cli import main
from host.plugins.cache import PluginCache
from tests.conftest import SR, read_mix

ROOT = Path(__file__).resolve().parent.parent.parent


def _readme_block(after: str, language: str = "yaml") -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(after):]
    start = section.index(f"```{language}\n") + len(language) + 4
    return section[start:section.index("```", start)]


def test_the_readme_mverb_example_is_audibly_wet(plugin_env: PluginCache, write_audio, write_session):
    """MVerb's mix is 0-100 %: `mix: 0.2` left the voice dry (the reverb 54 dB under it)."""
    entry = next(line for line in _readme_block("## Session files").splitlines() if "plugin: MVerb" in line)
    stage = entry.split("- ", 1)[1].split("#", 1)[0].strip()
    t = np.arange(3 * SR) / SR
    voice = np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0.3) * 0.3
    write_audio("v.wav", voice)
    mixes = {}
    for name, chain in (("dry", "[]"), ("wet", f"[{stage}]")):
        path = write_session(f"tracks:\n  v: {{source: v.wav, chain: {chain}}}\n"
                             f"outputs: {{mixdown: {name}.wav, bit_depth: float}}\n", name=f"{name}.yaml")
        assert main(["render", str(path), "--no-progress"]) == 0
        mixes[name] = read_mix(path.parent / f"{name}.wav")
    dry, wet = mixes["dry"], mixes["wet"]
    share = np.sum(wet * dry) / np.sum(dry * dry)  # the dry voice's part of the output
    reverb = wet - share * dry
    reverb_db = 10 * np.log10(np.sum(reverb**2) / np.sum((share * dry) ** 2))
    assert -20 < reverb_db < 0, reverb_db  # audible, and still under the voice
