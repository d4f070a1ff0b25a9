using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Generated;

namespace PolicyKit.Hosting.Tests;

/// <summary>A tiny random LLaDA-layout model in a temporary directory, shared by the tests of a class.</summary>
public sealed class TinyModel : IDisposable
{
    public TinyModel()
    {
        Directory = Path.Combine(Path.GetTempPath(), "policykit-hosting-" + Guid.NewGuid().ToString("N"));
        RandomCheckpoint.Write(Directory, Layout.LLaDA, new ModelSizes { HiddenSize = 32, Layers = 3, Heads = 2 }, seed: 11);
    }

    public string Directory { get; }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}

internal static class Hosts
{
    /// <summary>A container configured from key/value pairs under <c>PolicyKit:</c>, with the host's own policies added.</summary>
    public static ServiceProvider Build(IDictionary<string, string?> settings, Action<IServiceCollection>? before = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.ToDictionary(kv => PolicyKitOptions.SectionName + ":" + kv.Key, kv => kv.Value))
            .Build();
        var services = new ServiceCollection();
        before?.Invoke(services);
        services.AddPolicyKit(configuration.GetSection(PolicyKitOptions.SectionName))
            .AddPolicies(PolicyKitHostingTestsPolicyRegistry.Instance);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static Dictionary<string, string?> Settings(string modelDirectory, params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ModelDirectory"] = modelDirectory,
            ["Sampler:GenLength"] = "16",
            ["Sampler:Steps"] = "8",
            ["Sampler:BlockLength"] = "8",
        };
        foreach (var (key, value) in extra)
            settings[key] = value;
        return settings;
    }
}
