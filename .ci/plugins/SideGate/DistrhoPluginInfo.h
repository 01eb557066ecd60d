// SideGate: a test plugin for mixhost, built with DPF beside the DISTRHO plugins.
// A stereo gate opened by a stereo sidechain input (a VST3 auxiliary bus), so the
// tests can check that a host feeds a plugin's sidechain: with the key silent the
// output is silent, with the key playing the main input passes unchanged.
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND   "mixhost"
#define DISTRHO_PLUGIN_NAME    "SideGate"
#define DISTRHO_PLUGIN_URI     "urn:mixhost:test:side-gate"
#define DISTRHO_PLUGIN_CLAP_ID "mixhost.test.side-gate"

#define DISTRHO_PLUGIN_HAS_UI        0
#define DISTRHO_PLUGIN_IS_RT_SAFE    1
#define DISTRHO_PLUGIN_NUM_INPUTS    4  // main L/R, then sidechain L/R
#define DISTRHO_PLUGIN_NUM_OUTPUTS   2

#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Dynamics"

#endif // DISTRHO_PLUGIN_INFO_H_INCLUDED
