using System.Globalization;
using TorchSharp;

namespace PolicyKit.Hosting;

/// <summary>
/// The <c>PolicyKit</c> configuration section: which model to load, where, and how to sample; which policy
/// answers by default; and per-policy parameter overrides (<c>Policies:dllm-cache:ResponseRefresh.Every = 5</c>).
/// Validated at start by <see cref="PolicyKitOptionsValidator"/>.
/// </summary>
public sealed class PolicyKitOptions
{
    /// <summary>The configuration section <c>AddPolicyKit</c> reads by convention.</summary>
    public const string SectionName = "PolicyKit";

    /// <summary>Directory with config.json, the safetensors weights and tokenizer.json. Required.</summary>
    public string? ModelDirectory { get; set; }

    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Compute dtype: <c>float32</c>, <c>float16</c> or <c>bfloat16</c>.</summary>
    public string DType { get; set; } = "float32";

    /// <summary>The policy a request without one runs under.</summary>
    public string DefaultPolicy { get; set; } = "dllm-cache";

    public PolicyKitSamplerSettings Sampler { get; set; } = new();

    /// <summary>Step-level batching of concurrent requests (<c>PolicyKit:Batching</c>; see docs/batching.md).</summary>
    public PolicyKitBatchingSettings Batching { get; set; } = new();

    /// <summary>
    /// Policy name → parameter name → invariant-culture value, applied through the generated <c>Create(overrides)</c>
    /// (so they are validated exactly like the attributes: <c>PK0002</c>..<c>PK0004</c>). Names compare ignoring case.
    /// </summary>
    public Dictionary<string, Dictionary<string, string>> Policies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Sets one override in code (configuration does the same with <c>Policies:{policy}:{parameter}</c>).</summary>
    public PolicyKitOptions Override(string policy, string parameter, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(policy);
        ArgumentException.ThrowIfNullOrEmpty(parameter);
        ArgumentNullException.ThrowIfNull(value);
        var existing = FindOverrides(policy);
        if (existing is null)
            Policies[policy] = existing = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        existing[parameter] = value;
        return this;
    }

    /// <inheritdoc cref="Override(string, string, string)"/>
    public PolicyKitOptions Override(string policy, string parameter, IFormattable value) =>
        Override(policy, parameter, value.ToString(null, CultureInfo.InvariantCulture));

    /// <summary>The overrides configured for <paramref name="policy"/>, or null when there are none.</summary>
    public IReadOnlyDictionary<string, string>? OverridesFor(string policy) =>
        FindOverrides(policy) is { Count: > 0 } found ? found : null;

    // The binder may replace the dictionary with one that compares case-sensitively, so look up by hand.
    private Dictionary<string, string>? FindOverrides(string policy)
    {
        foreach (var (name, values) in Policies)
            if (string.Equals(name, policy, StringComparison.OrdinalIgnoreCase))
                return values;
        return null;
    }

    /// <summary>Parses <see cref="DType"/>; null when it names no supported dtype.</summary>
    public static torch.ScalarType? ParseDType(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => torch.ScalarType.Float32,
        "float16" or "fp16" or "f16" or "half" => torch.ScalarType.Float16,
        "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
        _ => null,
    };
}

/// <summary>The <c>PolicyKit:Sampler</c> section: defaults of every request.</summary>
public sealed class PolicyKitSamplerSettings
{
    public int GenLength { get; set; } = 64;

    public int Steps { get; set; } = 64;

    /// <summary>LLaDA block length (Dream models always use one block of <see cref="GenLength"/>).</summary>
    public int BlockLength { get; set; } = 32;

    /// <summary>Gumbel-max temperature; 0 = argmax (deterministic).</summary>
    public double Temperature { get; set; }

    /// <summary>Set: Fast-dLLM parallel decoding, committing every masked token above this confidence, in (0, 1].</summary>
    public double? Threshold { get; set; }

    /// <summary>Classifier-free guidance scale; 0 disables it.</summary>
    public double CfgScale { get; set; }

    public long Seed { get; set; }
}

/// <summary>
/// The <c>PolicyKit:Batching</c> section: how many concurrent requests step together and how many may wait. Requests
/// of the same shape admitted at the same step share each forward pass; every request keeps its own answer.
/// </summary>
public sealed class PolicyKitBatchingSettings
{
    /// <summary>Requests (rows) that run at once, stepping together; 1 = one generation at a time. At least 1.</summary>
    public int MaxBatchSize { get; set; } = 16;

    /// <summary>Requests that may wait for a row; one more is refused with <see cref="GenerationQueueFullException"/>. At least 0.</summary>
    public int MaxQueuedRequests { get; set; } = 64;

    /// <summary>What is wrong with these settings, each message naming its setting (none when they are valid).</summary>
    internal IEnumerable<string> Problems()
    {
        if (MaxBatchSize < 1) yield return $"MaxBatchSize: must be at least 1 (1 runs one generation at a time), got {MaxBatchSize}.";
        if (MaxQueuedRequests < 0) yield return $"MaxQueuedRequests: must be at least 0, got {MaxQueuedRequests}.";
    }
}
