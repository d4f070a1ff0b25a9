using PolicyKit.Diffusion.Sampling;

namespace PolicyKit.Server;

/// <summary>
/// A request's generation settings on top of the server's sampler defaults. Each one absent keeps the default;
/// <see cref="MaxTokens"/> is an upper bound, so a length that is not a whole number of blocks is rounded up to one
/// and the answer cut back to it (<see cref="GeneratedText"/>).
/// </summary>
public sealed record GenerationSettings(int? MaxTokens, int? Steps, int? BlockLength, double? Threshold, double? Temperature, long? Seed)
{
    /// <summary>The sampler options for this request, validated; <paramref name="maxTokens"/> is the answer's token budget.</summary>
    /// <exception cref="ArgumentException">The settings do not fit together; <see cref="ArgumentException.ParamName"/> is the request field.</exception>
    public SamplerOptions Apply(SamplerOptions defaults, out int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(defaults);
        maxTokens = MaxTokens ?? defaults.GenLength;
        bool oneBlock = defaults.Schedule == TransferSchedule.DreamTimeGrid;  // Dream: one block the length of the answer
        if (oneBlock && BlockLength is not null)
            throw new ArgumentException("'block_length' does not apply: this model decodes the answer as one block.", "block_length");

        int block = oneBlock ? maxTokens : BlockLength ?? Math.Min(defaults.BlockLength, maxTokens);
        int genLength = (maxTokens + block - 1) / block * block;
        int blocks = genLength / block;
        // Without an explicit step count, keep the defaults' steps per token (one per token with LLaDA's defaults),
        // rounded up to whole steps per block.
        int steps = Steps ?? Math.Max(blocks, (int)Math.Ceiling((double)defaults.Steps * genLength / defaults.GenLength / blocks) * blocks);

        var options = defaults with { GenLength = genLength, BlockLength = block, Steps = steps };
        if (Threshold is double threshold) options = options with { Schedule = TransferSchedule.Threshold, Threshold = threshold };
        if (Temperature is double temperature) options = options with { Temperature = temperature };
        if (Seed is long seed) options = options with { Seed = seed };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            var field = RequestField(e.ParamName);
            var message = WithoutParameterSuffix(e.Message);
            if (e.ParamName is { } name && message.StartsWith(name + ": ", StringComparison.Ordinal)) message = message[(name.Length + 2)..];
            throw new ArgumentException($"'{field}': {message}", field, e);
        }
        return options;
    }

    /// <summary>An exception's message without the " (Parameter 'x')" that .NET appends.</summary>
    internal static string WithoutParameterSuffix(string message)
    {
        int at = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return at >= 0 ? message[..at] : message;
    }

    /// <summary>The request field behind each setting name the engine reports.</summary>
    public static string RequestField(string? engineName) => engineName switch
    {
        "gen-length" => "max_tokens",
        "block-length" => "block_length",
        "steps" => "steps",
        "threshold" => "threshold",
        "temperature" => "temperature",
        _ => engineName ?? "",
    };
}
