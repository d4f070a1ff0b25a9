using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit.Diffusion.Checkpoints;

namespace PolicyKit.Hosting;

/// <summary>
/// Checks <see cref="PolicyKitOptions"/> when they are first read (at host start with <c>ValidateOnStart</c>), so a
/// bad setting stops the application with a message naming the setting instead of failing the first request.
/// Policy overrides are checked by the policy's own generated <c>Create(overrides)</c>, which applies the same rules
/// (and diagnostic IDs) as the compiler does to the attributes.
/// </summary>
public sealed class PolicyKitOptionsValidator(PolicyCatalog catalog, IServiceProviderIsKeyedService? keyedServices = null)
    : IValidateOptions<PolicyKitOptions>
{
    private const string Section = PolicyKitOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, PolicyKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();

        if (string.IsNullOrWhiteSpace(options.ModelDirectory))
            failures.Add($"{Section}:ModelDirectory is required: the directory holding config.json, the safetensors weights and tokenizer.json.");
        else if (!Directory.Exists(options.ModelDirectory))
            failures.Add($"{Section}:ModelDirectory: directory '{options.ModelDirectory}' not found.");

        if (!IsDeviceSyntax(options.Device))
            failures.Add($"{Section}:Device: '{options.Device}' is not a device (expected cpu, cuda, cuda:N or auto).");

        if (PolicyKitOptions.ParseDType(options.DType) is null)
            failures.Add($"{Section}:DType: '{options.DType}' is not supported (expected float32, float16 or bfloat16).");

        if (string.IsNullOrWhiteSpace(options.DefaultPolicy))
            failures.Add($"{Section}:DefaultPolicy is required. Known policies: {Known()}.");
        else if (!IsPolicy(options.DefaultPolicy))
            failures.Add($"{Section}:DefaultPolicy: unknown policy '{options.DefaultPolicy}'. Known policies: {Known()}.");

        ValidateSampler(options.Sampler, failures);
        ValidateBatching(options.Batching, failures);
        ValidateOverrides(options, failures);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateSampler(PolicyKitSamplerSettings? sampler, List<string> failures)
    {
        if (sampler is null)
        {
            failures.Add($"{Section}:Sampler is null.");
            return;
        }
        try
        {
            // LLaDA's rules are the stricter ones (blocks must divide the steps); Dream ignores BlockLength.
            sampler.ToSamplerOptions(Layout.LLaDA, eosTokenId: null).Validate();
        }
        catch (ArgumentException e)
        {
            failures.Add($"{Section}:Sampler:{SamplerSettingsExtensions.SettingName(e.ParamName)}: {EngineMessage(e)}");
        }
    }

    private static void ValidateBatching(PolicyKitBatchingSettings? batching, List<string> failures)
    {
        if (batching is null)
        {
            failures.Add($"{Section}:Batching is null.");
            return;
        }
        failures.AddRange(batching.Problems().Select(problem => $"{Section}:Batching:{problem}"));
    }

    private void ValidateOverrides(PolicyKitOptions options, List<string> failures)
    {
        foreach (var (policy, overrides) in options.Policies ?? [])
        {
            if (!catalog.TryGet(policy, out var descriptor) && !TryGetIgnoringCase(policy, out descriptor))
            {
                failures.Add($"{Section}:Policies:{policy}: unknown policy '{policy}' (overrides apply to generated policies). Known policies: {Known()}.");
                continue;
            }
            if (overrides is null || overrides.Count == 0)
                continue;
            try
            {
                descriptor.Create(overrides);
            }
            catch (ArgumentException e)
            {
                var setting = e.ParamName is { } parameter && overrides.Keys.FirstOrDefault(k => string.Equals(k, parameter, StringComparison.OrdinalIgnoreCase)) is { } key
                    ? $"{Section}:Policies:{policy}:{key}"
                    : $"{Section}:Policies:{policy}";
                failures.Add($"{setting}: {StripParameterSuffix(e.Message)}");
            }
        }
    }

    private bool TryGetIgnoringCase(string policy, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PolicyDescriptor? descriptor)
    {
        descriptor = catalog.FirstOrDefault(d => string.Equals(d.Name, policy, StringComparison.OrdinalIgnoreCase));
        return descriptor is not null;
    }

    // A host may register a hand-written policy under its own key; that counts as known too.
    private bool IsPolicy(string name) =>
        catalog.TryGet(name, out _) || keyedServices?.IsKeyedService(typeof(ICachePolicy), name) == true;

    private string Known() => string.Join(", ", catalog.Names);

    private static bool IsDeviceSyntax(string? device)
    {
        var s = device?.Trim().ToLowerInvariant();
        return s is "cpu" or "cuda" or "auto" ||
               (s is not null && s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out int index) && index >= 0);
    }

    /// <summary>The engine's message without its own "name: " prefix and .NET's "(Parameter 'x')" suffix.</summary>
    private static string EngineMessage(ArgumentException e)
    {
        var message = StripParameterSuffix(e.Message);
        var prefix = e.ParamName + ": ";
        return e.ParamName is not null && message.StartsWith(prefix, StringComparison.Ordinal) ? message[prefix.Length..] : message;
    }

    private static string StripParameterSuffix(string message)
    {
        int at = message.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return at >= 0 ? message[..at] : message;
    }
}
