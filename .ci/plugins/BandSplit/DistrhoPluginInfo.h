// BandSplit: a test plugin for mixhost, built with DPF beside the DISTRHO plugins.
// Stereo in, two stereo output buses (VST3 port groups): the low band on the first,
// the high band on the second, so the tests can check that a host reaches a
// plugin's second output bus.
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND   "mixhost"
#define DISTRHO_PLUGIN_NAME    "BandSplit"
#define DISTRHO_PLUGIN_URI     "urn:mixhost:test:band-split"
#define DISTRHO_PLUGIN_CLAP_ID "mixhost.test.band-split"

#define DISTRHO_PLUGIN_HAS_UI        0
#define DISTRHO_PLUGIN_IS_RT_SAFE    1
#define DISTRHO_PLUGIN_NUM_INPUTS    2
#define DISTRHO_PLUGIN_NUM_OUTPUTS   4  // low L/R, then high L/R

#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Filter"

#endif // DISTRHO_PLUGIN_INFO_H_INCLUDED
