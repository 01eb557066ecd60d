// LatentDelay: a test plugin for mixhost, built with DPF beside the DISTRHO plugins.
// A pure stereo delay that reports its delay as latency, so the tests can check
// latency compensation with a real plugin in the graph (no DISTRHO plugin reports any).
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND   "mixhost"
#define DISTRHO_PLUGIN_NAME    "LatentDelay"
#define DISTRHO_PLUGIN_URI     "urn:mixhost:test:latent-delay"
#define DISTRHO_PLUGIN_CLAP_ID "mixhost.test.latent-delay"

#define DISTRHO_PLUGIN_HAS_UI        0
#define DISTRHO_PLUGIN_IS_RT_SAFE    1
#define DISTRHO_PLUGIN_NUM_INPUTS    2
#define DISTRHO_PLUGIN_NUM_OUTPUTS   2
#define DISTRHO_PLUGIN_WANT_LATENCY  1

#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Delay"

#endif // DISTRHO_PLUGIN_INFO_H_INCLUDED
