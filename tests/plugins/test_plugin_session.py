"""Plugins in session files, rendered by the engine: registry addresses, automation, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import SR, rms_db, sine

import host
from host.errors import SessionError
from host.plugins.cache import PluginCache
from tests.conftest import read_mix

SESSION = """
session: {{name: plugin session, sample_rate: 48000}}
tracks:
  low:
    source: low.wav
    chain:
{chain}
    output: master
outputs: {{mixdown: {mix}, bit_depth: float}}
{automation}
"""

EQ = "      - {id: eq, plugin: 3BandEQ, params: {low_mid_freq_hz: 1000%s}}"


def _session(write_session, write_audio, chain: str, mix: str, automation: str = "") -> Path:
    write_audio("low.wav", sine(60.0, 2.0, channels=2).T)
    return write_session(SESSION.format(chain=chain, mix=mix, automation=automation), name=f"{mix}.yaml")


def _level(path: Path, start_s: float, end_s: float) -> float:
    mix = read_mix(path).T
    return rms_db(mix[:, int(start_s * SR) : int(end_s * SR)])


def test_a_plugin_in_a_chain_is_rendered_and_its_parameters_are_registered(
    plugin_env: PluginCache, write_session, write_audio
) -> None:
    dry = _session(write_session, write_audio, "      []", "dry.wav")
    host.load_session(dry).render()
    wet_path = _session(write_session, write_audio, EQ % ", low_db: -24", "wet.wav")
    session = host.load_session(wet_path)
    assert session.get("tracks/low/eq/low_db") == -24.0
    assert session.get("tracks/low/eq/mid_high_freq_hz") == 2000.0
    session.render()
    cut = _level(wet_path.parent / "wet.wav", 0.5, 1.9) - _level(dry.parent / "dry.wav", 0.5, 1.9)
    assert -28.0 < cut < -18.0, cut


def test_automation_drives_a_plugin_parameter(plugin_env: PluginCache, write_session, write_audio) -> None:
    lane = "automation:\n  tracks/low/eq/low_db:\n    interpolation: step\n    points: [[0, 0], [1.0, -24]]"
    path = _session(write_session, write_audio, EQ % "", "auto.wav", lane)
    host.load_session(path).render()
    before, after = _level(path.parent / "auto.wav", 0.3, 0.9), _level(path.parent / "auto.wav", 1.3, 1.9)
    assert after - before < -18.0, (before, after)


def test_the_api_sets_a_plugin_parameter_before_render(plugin_env: PluginCache, write_session, write_audio) -> None:
    path = _session(write_session, write_audio, EQ % "", "api.wav")
    session = host.load_session(path)
    session.set("tracks/low/eq/low_db", -24.0)
    session.render()
    assert _level(path.parent / "api.wav", 0.5, 1.9) < rms_db(sine(60.0, 1.0)) - 18.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("      - {id: eq, plugin: 3BandQE}", 'did you mean "3 Band EQ"'),
        ("      - {id: eq, plugin: 3BandEQ, params: {low_bd: -3}}", 'did you mean "low_db"'),
        ("      - {id: eq, path: nowhere/Missing.vst3}", "no such plugin bundle"),
    ],
)
def test_plugin_mistakes_in_a_session_name_the_file_and_line(
    plugin_env: PluginCache, write_session, write_audio, entry: str, message: str
) -> None:
    path = _session(write_session, write_audio, entry, "bad.wav")
    with pytest.raises(SessionError, match=message) as caught:
        host.load_session(path)
    assert caught.value.file == str(path) and caught.value.line is not None
    assert np.isfinite(caught.value.line)


def _raise_while_rendering(plugin: object) -> None:
    """Make a real plugin object raise from ``process`` once streaming starts (reset=False).

    The layout trials at prepare time (reset=True) still reach the plugin, so the
    failure happens inside the render, as a plugin that breaks mid-song would.
    """
    real = plugin.process  # type: ignore[attr-defined]

    def process(*args: object, reset: bool = True, **kwargs: object) -> object:
        if not reset:
            raise RuntimeError("the plugin gave up")
        return real(*args, reset=reset, **kwargs)

    plugin.process = process  # type: ignore[attr-defined]


FAILING = {
    # MVerb's feedback overflows to NaN on finite input near float32's limit: the plugin's own NaN
    "effect-nan": ("source: loud.wav", "chain: [{id: verb, plugin: MVerb}]", "tracks/t/verb",
                   "'MVerb'", "NaN or Inf"),
    "effect-raises": ("source: loud.wav", "chain: [{id: verb, plugin: MVerb}]", "tracks/t/verb",
                      "'MVerb'", "the plugin gave up"),
    "instrument-raises": ("instrument: {plugin: Kars, midi: song.mid}", "", "tracks/t/instrument",
                          "'Kars'", "the plugin gave up"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_plugin_failing_during_a_session_render_names_track_stage_and_plugin_and_leaves_no_mix(
    case: str, plugin_env: PluginCache, write_session, write_audio, tmp_path: Path
) -> None:
    from host.errors import RenderError
    from tests.plugins.test_plugin_tracks import write_song

    source, chain, address, plugin, message = FAILING[case]
    amp = 3e38 if case == "effect-nan" else 0.5
    write_audio("loud.wav", sine(60.0, 1.0, amp=amp, channels=2).T)
    write_song(tmp_path / "song.mid")
    path = write_session(f"""
        tracks:
          t:
            {source}
            {chain}
        outputs: {{mixdown: out/mix.wav, bit_depth: float}}
    """)
    session = host.load_session(path)
    if case == "instrument-raises":
        _raise_while_rendering(session.instruments["tracks/t"].plugin)
    elif case == "effect-raises":
        _raise_while_rendering(session.stages["tracks/t"][0].stage.plugin)  # type: ignore[attr-defined]
    with pytest.raises(RenderError) as caught:
        session.render()
    text = str(caught.value)
    assert text.startswith(address) and plugin in text and message in text, text
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == [], list(out.iterdir())  # no mix, no partial file


VERB = "      - {id: verb, plugin: MVerb, params: {mix: 100, decay: 80}%s}"


@pytest.mark.parametrize("how", ["yaml", "api"])
def test_a_bypassed_plugin_in_a_session_passes_the_dry_input(
    how: str, plugin_env: PluginCache, write_session, write_audio, tmp_path: Path
) -> None:
    path = _session(write_session, write_audio, VERB % (", bypass: true" if how == "yaml" else ""), "byp.wav")
    session = host.load_session(path)
    if how == "api":
        session.set("tracks/low/verb/bypass", True)
    assert session.get("tracks/low/verb/bypass")
    session.render()
    dry = read_mix(tmp_path / "low.wav")
    np.testing.assert_allclose(read_mix(tmp_path / "byp.wav"), dry, atol=1e-6)


def test_bypassing_a_plugin_mid_render_through_the_registry_is_smooth(
    plugin_env: PluginCache, write_session, write_audio, tmp_path: Path
) -> None:
    lane = "automation:\n  tracks/low/verb/bypass:\n    interpolation: step\n    points: [[0, false], [1.0, true]]"
    path = _session(write_session, write_audio, VERB % "", "switch.wav", lane)
    host.load_session(path).render()
    mix, dry = read_mix(tmp_path / "switch.wav").T, read_mix(tmp_path / "low.wav").T
    assert rms_db(mix[:, int(0.5 * SR) : SR] - dry[:, int(0.5 * SR) : SR]) > -20  # the reverb is on before 1 s
    after = slice(SR + 256, 2 * SR)
    np.testing.assert_allclose(mix[:, after], dry[:, after], atol=1e-6)  # and off after it
    # a hard switch would jump by |wet - dry| (tenths here) in one sample; the crossfade spreads it
    steps = np.abs(np.diff(mix, axis=1))
    steady = max(steps[:, int(0.5 * SR) : SR - 256].max(), steps[:, after].max())
    around = steps[:, SR - 256 : SR + 256].max()
    jump = np.abs(mix[:, SR - 256 : SR + 256] - dry[:, SR - 256 : SR + 256]).max()
    assert jump > 4 * steady  # the wet and dry signals really differ at the switch
    assert around < steady + jump / 16, (around, steady, jump)  # faded over 16 samples or more


@pytest.mark.parametrize("where", ["track", "bus"])
def test_a_latent_plugin_on_one_of_two_parallel_paths_nulls_at_the_sum(
    where: str, plugin_env: PluginCache, write_session, write_audio, tmp_path: Path
) -> None:
    """LatentDelay delays by 480 frames and says so; compensation must line the paths up again."""
    rng = np.random.default_rng(11)
    noise = 0.25 * rng.standard_normal((SR, 2))
    write_audio("x.wav", noise)
    write_audio("minus_x.wav", -noise)
    latent = "[{id: late, plugin: LatentDelay}]"
    track_chain, bus_chain = (latent, "[]") if where == "track" else ("[]", latent)
    path = write_session(f"""
        tracks:
          wet: {{source: x.wav, chain: {track_chain}, output: path}}
          dry: {{source: minus_x.wav}}
          alone: {{source: x.wav, chain: [{{id: late, plugin: LatentDelay}}], mute: true}}
        buses:
          path: {{chain: {bus_chain}}}
        outputs: {{mixdown: null.wav, bit_depth: float}}
    """)
    session = host.load_session(path)
    result = session.render()
    mix = read_mix(result.outputs[0])
    assert mix.shape == noise.shape
    assert rms_db(mix) < rms_db(noise) - 120, rms_db(mix)    # x and -x meet sample for sample
    session.set("tracks/alone/mute", False)
    session.set("tracks/dry/mute", True)
    session.set("tracks/wet/mute", True)
    alone = read_mix(session.render().outputs[0])            # and the mix lines up with its sources
    np.testing.assert_allclose(alone, noise, atol=1e-6)
