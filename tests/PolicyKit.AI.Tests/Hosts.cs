using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Hosting;

namespace PolicyKit.AI.Tests;

/// <summary>A tiny random LLaDA-layout model in a temporary directory, shared by the tests of a class.</summary>
public sealed class TinyModel : IDisposable
{
    public TinyModel()
    {
        Directory = Path.Combine(Path.GetTempPath(), "policykit-ai-" + Guid.NewGuid().ToString("N"));
        RandomCheckpoint.Write(Directory, Layout.LLaDA, new ModelSizes { HiddenSize = 32, Layers = 3, Heads = 2 }, seed: 23);
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
    /// <summary>The built-in policies, every one of which the streaming contract is tested under.</summary>
    public static readonly string[] BuiltInPolicies = [.. PolicyKit.Generated.PolicyKitPoliciesPolicyRegistry.Names];

    public static string ShippedModel { get; } = Path.Combine(RepositoryRoot(), "models", "policykit-ref");

    /// <summary>A container with PolicyKit over <paramref name="modelDirectory"/> and its chat client registered.</summary>
    public static ServiceProvider Build(string modelDirectory, int genLength, int steps, int blockLength, Action<PolicyKitBuilder>? more = null)
    {
        var services = new ServiceCollection();
        var builder = services.AddPolicyKit(options =>
        {
            options.ModelDirectory = modelDirectory;
            options.Sampler.GenLength = genLength;
            options.Sampler.Steps = steps;
            options.Sampler.BlockLength = blockLength;
        });
        builder.AddChatClient();
        more?.Invoke(builder);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static ChatOptions Options(string policy, params (string Key, object? Value)[] extra)
    {
        var options = new ChatOptions { AdditionalProperties = new() { [PolicyKitChatProperties.Policy] = policy } };
        foreach (var (key, value) in extra)
            options.AdditionalProperties[key] = value;
        return options;
    }

    /// <summary>Every update of a streamed response, read to the end.</summary>
    public static async Task<List<ChatResponseUpdate>> Stream(IChatClient client, string prompt, ChatOptions? options)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(prompt, options))
            updates.Add(update);
        return updates;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "PolicyKit.sln"))) return dir.FullName;
        throw new InvalidOperationException("PolicyKit.sln not found above " + AppContext.BaseDirectory);
    }
}
