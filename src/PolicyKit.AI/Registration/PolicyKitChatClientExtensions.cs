using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PolicyKit;
using PolicyKit.AI;
using PolicyKit.Hosting;

// The conventional namespace, so AddChatClient shows up next to AddPolicyKit.
namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers PolicyKit's <see cref="IChatClient"/> with dependency injection.</summary>
public static class PolicyKitChatClientExtensions
{
    /// <summary>
    /// Registers an <see cref="IChatClient"/> over PolicyKit (a <see cref="PolicyKitChatClient"/> under
    /// <paramref name="policy"/>, or the host's default policy) and returns its <see cref="ChatClientBuilder"/>, so
    /// middleware composes as with any other client: <c>.AddChatClient().UseLogging().UseOpenTelemetry()</c>.
    /// The prompt formatter is the registered <see cref="IChatPromptFormatter"/>; by default the model's own chat template
    /// (<see cref="ChatTemplatePromptFormatter"/>) where its tokenizer_config.json has one, else <see cref="PlainChatPromptFormatter"/>.
    /// </summary>
    public static ChatClientBuilder AddChatClient(this PolicyKitBuilder builder, string? policy = null, ServiceLifetime lifetime = ServiceLifetime.Singleton)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (policy is not null) ArgumentException.ThrowIfNullOrWhiteSpace(policy);
        AddDefaultFormatter(builder);
        return builder.Services.AddChatClient(provider => Create(provider, policy), lifetime);
    }

    /// <summary>
    /// Registers an <see cref="IChatClient"/> keyed by <paramref name="policy"/> that runs under that policy, and returns
    /// its <see cref="ChatClientBuilder"/> for middleware: <c>GetRequiredKeyedService&lt;IChatClient&gt;("dllm-cache")</c>.
    /// </summary>
    public static ChatClientBuilder AddKeyedChatClient(this PolicyKitBuilder builder, string policy, ServiceLifetime lifetime = ServiceLifetime.Singleton)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(policy);
        AddDefaultFormatter(builder);
        return builder.Services.AddKeyedChatClient(policy, provider => Create(provider, policy), lifetime);
    }

    /// <summary>
    /// Registers a keyed <see cref="IChatClient"/> (without middleware) for every policy added to
    /// <paramref name="builder"/> so far (<see cref="PolicyKitBuilder.PolicyNames"/>), keyed by the policy's name.
    /// </summary>
    public static PolicyKitBuilder AddKeyedChatClients(this PolicyKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        foreach (var name in builder.PolicyNames)
            builder.AddKeyedChatClient(name);
        return builder;
    }

    private static void AddDefaultFormatter(PolicyKitBuilder builder) =>
        builder.Services.TryAddSingleton<IChatPromptFormatter>(provider =>
        {
            var directory = provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value.ModelDirectory;
            return (string.IsNullOrWhiteSpace(directory) ? null : ChatTemplatePromptFormatter.FromModelDirectory(directory))
                ?? (IChatPromptFormatter)PlainChatPromptFormatter.Instance;
        });

    private static PolicyKitChatClient Create(IServiceProvider provider, string? policy)
    {
        // Fail at resolution, naming the policy, rather than at the first request.
        if (policy is not null && provider.GetKeyedService<ICachePolicy>(policy) is null)
            throw new InvalidOperationException(
                $"PolicyKit chat client: unknown cache policy '{policy}'. Known: {string.Join(", ", provider.GetRequiredService<PolicyCatalog>().Names)}.");
        var options = provider.GetRequiredService<IOptions<PolicyKitOptions>>().Value;
        return new PolicyKitChatClient(
            provider.GetRequiredService<IDiffusionGenerator>(),
            provider.GetService<IChatPromptFormatter>(),
            policy,
            ModelName(options.ModelDirectory));
    }

    /// <summary>The model directory's folder name (<c>policykit-ref</c>), the closest thing to a model id a checkpoint has.</summary>
    private static string? ModelName(string? directory) =>
        string.IsNullOrWhiteSpace(directory) ? null : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
}
