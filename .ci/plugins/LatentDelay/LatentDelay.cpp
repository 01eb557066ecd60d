// LatentDelay: delays both channels by LATENCY frames and reports exactly that
// latency to the host.  A host that compensates latency gets its input back
// unchanged and aligned; one that does not hears it LATENCY frames late.
#include "DistrhoPlugin.hpp"

#include <cstring>

START_NAMESPACE_DISTRHO

static constexpr uint32_t LATENCY = 480;  // 10 ms at 48 kHz

class LatentDelayPlugin : public Plugin
{
public:
    LatentDelayPlugin()
        : Plugin(0, 0, 0)
    {
        setLatency(LATENCY);
        clear();
    }

protected:
    const char* getLabel() const noexcept override { return "LatentDelay"; }
    const char* getDescription() const override { return "A pure delay that reports its latency (mixhost tests)."; }
    const char* getMaker() const noexcept override { return "mixhost"; }
    const char* getLicense() const noexcept override { return "ISC"; }
    uint32_t getVersion() const noexcept override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const noexcept override { return d_cconst('M', 'x', 'L', 'd'); }

    void initParameter(uint32_t, Parameter&) override {}
    float getParameterValue(uint32_t) const override { return 0.0f; }
    void setParameterValue(uint32_t, float) override {}

    void activate() override { clear(); }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        for (uint32_t channel = 0; channel < 2; ++channel)
        {
            const float* const in = inputs[channel];
            float* const out = outputs[channel];
            float* const ring = fRing[channel];
            uint32_t position = fPosition;
            for (uint32_t i = 0; i < frames; ++i)
            {
                const float x = in[i];  // read before writing: the host may process in place
                out[i] = ring[position];
                ring[position] = x;
                position = position + 1 == LATENCY ? 0 : position + 1;
            }
        }
        fPosition = (fPosition + frames) % LATENCY;
    }

private:
    void clear() noexcept
    {
        std::memset(fRing, 0, sizeof(fRing));
        fPosition = 0;
    }

    float fRing[2][LATENCY];
    uint32_t fPosition;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(LatentDelayPlugin)
};

Plugin* createPlugin()
{
    return new LatentDelayPlugin();
}

END_NAMESPACE_DISTRHO
