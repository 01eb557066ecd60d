// BandSplit: a complementary two-band split.  The low band is the input through two
// cascaded one-pole low-passes at the crossover frequency; the high band is the
// input minus the low band, so the two bands always sum back to the input.
#include "DistrhoPlugin.hpp"

#include <cmath>

START_NAMESPACE_DISTRHO

enum BandGroups : uint32_t { kGroupLow = 0, kGroupHigh = 1 };  // DPF wants own group ids from 0

class BandSplitPlugin : public Plugin
{
public:
    BandSplitPlugin()
        : Plugin(1, 0, 0),
          fCrossoverHz(1000.0f)
    {
        clear();
    }

protected:
    const char* getLabel() const noexcept override { return "BandSplit"; }
    const char* getDescription() const override { return "Low band on output bus 1, high band on bus 2 (mixhost tests)."; }
    const char* getMaker() const noexcept override { return "mixhost"; }
    const char* getLicense() const noexcept override { return "ISC"; }
    uint32_t getVersion() const noexcept override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const noexcept override { return d_cconst('M', 'x', 'B', 's'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override
    {
        Plugin::initAudioPort(input, index, port);
        if (!input)
            port.groupId = index < 2 ? kGroupLow : kGroupHigh;  // one VST3 output bus per group
    }

    void initPortGroup(uint32_t groupId, PortGroup& group) override
    {
        group.name = groupId == kGroupLow ? "Low" : "High";
        group.symbol = groupId == kGroupLow ? "low" : "high";
    }

    void initParameter(uint32_t, Parameter& parameter) override
    {
        parameter.hints = kParameterIsAutomatable | kParameterIsLogarithmic;
        parameter.name = "Crossover";
        parameter.symbol = "crossover";
        parameter.unit = "Hz";
        parameter.ranges.def = 1000.0f;
        parameter.ranges.min = 20.0f;
        parameter.ranges.max = 20000.0f;
    }

    float getParameterValue(uint32_t) const override { return fCrossoverHz; }
    void setParameterValue(uint32_t, float value) override { fCrossoverHz = value; }

    void activate() override { clear(); }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        const float a = std::exp(-2.0f * float(M_PI) * fCrossoverHz / float(getSampleRate()));
        for (uint32_t channel = 0; channel < 2; ++channel)
        {
            const float* const in = inputs[channel];
            float* const low = outputs[channel];
            float* const high = outputs[channel + 2];
            float s1 = fState[channel][0];
            float s2 = fState[channel][1];
            for (uint32_t i = 0; i < frames; ++i)
            {
                const float x = in[i];  // read before writing: the host may process in place
                s1 = (1.0f - a) * x + a * s1;
                s2 = (1.0f - a) * s1 + a * s2;
                low[i] = s2;
                high[i] = x - s2;
            }
            fState[channel][0] = s1;
            fState[channel][1] = s2;
        }
    }

private:
    void clear() noexcept
    {
        for (auto& state : fState)
            state[0] = state[1] = 0.0f;
    }

    float fCrossoverHz;
    float fState[2][2];

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(BandSplitPlugin)
};

Plugin* createPlugin()
{
    return new BandSplitPlugin();
}

END_NAMESPACE_DISTRHO
