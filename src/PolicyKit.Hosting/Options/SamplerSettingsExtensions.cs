using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Hosting;

internal static class SamplerSettingsExtensions
{
    /// <summary>The engine's options for these settings on a model of <paramref name="layout"/>.</summary>
    public static SamplerOptions ToSamplerOptions(this PolicyKitSamplerSettings settings, Layout layout, int? eosTokenId)
    {
        var options = layout == Layout.Dream
            ? SamplerOptions.Dream(settings.GenLength, settings.Steps)
            : SamplerOptions.Llada with { GenLength = settings.GenLength, Steps = settings.Steps, BlockLength = settings.BlockLength };
        options = options with
        {
            EosTokenId = eosTokenId,
            Temperature = settings.Temperature,
            CfgScale = settings.CfgScale,
            Seed = settings.Seed,
        };
        if (settings.Threshold is double threshold)
            options = options with { Schedule = TransferSchedule.Threshold, Threshold = threshold };
        return options;
    }

    /// <summary>The configuration key of each name <see cref="SamplerOptions.Validate"/> reports.</summary>
    public static string SettingName(string? engineName) => engineName switch
    {
        "gen-length" => "GenLength",
        "block-length" => "BlockLength",
        "steps" => "Steps",
        "temperature" => "Temperature",
        "threshold" => "Threshold",
        "cfg" => "CfgScale",
        _ => engineName ?? "?",
    };
}
