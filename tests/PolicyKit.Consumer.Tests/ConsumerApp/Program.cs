using ConsumerApp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Generated;
using PolicyKit.Hosting;
using PolicyKit.Testing;

// args[0]: a directory for the random model this program writes and then serves.
var modelDirectory = args[0];
RandomCheckpoint.Write(modelDirectory, Layout.LLaDA, new ModelSizes { HiddenSize = 32, Layers = 2, Heads = 2 }, seed: 5);

await ServeAsync(modelDirectory, "random");
// args[1], when given: the repository's shipped model, served the same way.
if (args.Length > 1)
    await ServeAsync(args[1], "shipped");
Console.WriteLine("CONSUMER-OK");
return 0;

static async Task ServeAsync(string modelDirectory, string label)
{
    var configuration = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
        .AddInMemoryCollection(new Dictionary<string, string?> { ["PolicyKit:ModelDirectory"] = modelDirectory })
        .Build();

    var services = new ServiceCollection();
    services.AddPolicyKit(configuration.GetSection(PolicyKitOptions.SectionName))
        .AddPolicies(ConsumerAppPolicyRegistry.Instance);
    await using var provider = services.BuildServiceProvider(validateScopes: true);
    provider.GetRequiredService<IStartupValidator>().Validate();

    // Resolved by name; the generated DI helper exists too (emitted because the DI abstractions are referenced).
    var policy = provider.GetRequiredKeyedService<ICachePolicy>("consumer-window");
    Require(policy is WindowPolicy, $"expected WindowPolicy, got {policy.GetType()}");
    Require(typeof(ConsumerAppPolicyServiceCollectionExtensions).GetMethod("AddConsumerAppCachePolicies") is not null, "generated AddConsumerAppCachePolicies missing");
    var every = policy.Parameters.Single(p => p.Name == "ResponseRefresh.Every").Value;
    Require(every == "3", $"appsettings.json override not applied: ResponseRefresh.Every = {every}");

    PolicyInvariants.Check(policy);
    PolicyInvariants.Check(provider.GetRequiredKeyedService<ICachePolicy>("dllm-cache"));

    var generator = provider.GetRequiredService<IDiffusionGenerator>();
    var cached = await generator.GenerateAsync("Hello from a package consumer");
    var baseline = await generator.GenerateAsync("Hello from a package consumer", "none");
    Require(cached.Policy == "consumer-window" && cached.TokenIds.Count == 16, $"unexpected result {cached}");
    Require(cached.RecomputeFraction < 1, $"the policy recomputed everything ({cached.RecomputeFraction})");
    Console.WriteLine($"{label}: policy={cached.Policy} steps={cached.Steps} recompute={cached.RecomputeFraction:F3} baseline-steps={baseline.Steps} answer={cached.Text.Length} chars");
}

static void Require(bool condition, string message)
{
    if (!condition) throw new InvalidOperationException(message);
}
