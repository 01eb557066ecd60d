// SideGate: the main stereo input passes while the sidechain (key) is louder than
// the threshold and is muted while it is quieter.  The key's level is a peak
// follower (instant attack, 50 ms release); the gate's gain moves towards open or
// closed with a 1 ms time constant so it never clicks.
#include "DistrhoPlugin.hpp"

#include <cmath>

START_NAMESPACE_DISTRHO

static constexpr float RELEASE_S = 0.050f;
static constexpr float GAIN_TIME_S = 0.001f;

class SideGatePlugin : public Plugin
{
public:
    SideGatePlugin()
        : Plugin(1, 0, 0),
          fThresholdDb(-40.0f),
          fLevel(0.0f),
          fGain(0.0f)
    {
    }

protected:
    const char* getLabel() const noexcept override { return "SideGate"; }
    const char* getDescription() const override { return "A gate opened by its sidechain input (mixhost tests)."; }
    const char* getMaker() const noexcept override { return "mixhost"; }
    const char* getLicense() const noexcept override { return "ISC"; }
    uint32_t getVersion() const noexcept override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const noexcept override { return d_cconst('M', 'x', 'S', 'g'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override
    {
        Plugin::initAudioPort(input, index, port);
        if (input && index >= 2)
        {
            // DPF gathers sidechain-hinted ports into one auxiliary input bus
            port.hints = kAudioPortIsSidechain;
            port.name = index == 2 ? "Sidechain L" : "Sidechain R";  // DPF names the bus after its first port
            port.symbol = index == 2 ? "sidechain_l" : "sidechain_r";
        }
    }

    void initParameter(uint32_t, Parameter& parameter) override
    {
        parameter.hints = kParameterIsAutomatable;
        parameter.name = "Threshold";
        parameter.symbol = "threshold";
        parameter.unit = "dB";
        parameter.ranges.def = -40.0f;
        parameter.ranges.min = -80.0f;
        parameter.ranges.max = 0.0f;
    }

    float getParameterValue(uint32_t) const override { return fThresholdDb; }
    void setParameterValue(uint32_t, float value) override { fThresholdDb = value; }

    void activate() override
    {
        fLevel = 0.0f;
        fGain = 0.0f;
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        const double rate = getSampleRate();
        const float release = std::exp(-1.0f / float(RELEASE_S * rate));
        const float glide = std::exp(-1.0f / float(GAIN_TIME_S * rate));
        const float threshold = std::pow(10.0f, fThresholdDb / 20.0f);
        for (uint32_t i = 0; i < frames; ++i)
        {
            // read every input before writing: the host may process in place
            const float left = inputs[0][i];
            const float right = inputs[1][i];
            const float key = std::fmax(std::fabs(inputs[2][i]), std::fabs(inputs[3][i]));
            fLevel = key > fLevel ? key : release * fLevel + (1.0f - release) * key;
            const float target = fLevel > threshold ? 1.0f : 0.0f;
            fGain = glide * fGain + (1.0f - glide) * target;
            outputs[0][i] = left * fGain;
            outputs[1][i] = right * fGain;
        }
    }

private:
    float fThresholdDb;
    float fLevel;
    float fGain;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(SideGatePlugin)
};

Plugin* createPlugin()
{
    return new SideGatePlugin();
}

END_NAMESPACE_DISTRHO
