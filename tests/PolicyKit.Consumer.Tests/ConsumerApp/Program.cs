using ConsumerApp;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PolicyKit;
using PolicyKit.AI;
using PolicyKit.Diffusion.Checkpoints;
using PolicyKit.Generated;
using PolicyKit.Hosting;
using PolicyKit.Testing;

// args[0]: a directory for the random model this program writes and then serves.
var modelDirectory = args[0];
RandomCheckpoint.Write(modelDirectory, Layout.LLaDA, new ModelSizes { HiddenSize = 32, Layers = 2, Heads = 2 }, seed: 5);

await ServeAsync(modelDirectory, "random", "Hello from a package consumer", 16);
// args[1], when given: the repository's shipped model, served the same way; args[2]: a file with the transform
// test prompt (the task the shipped model answers exactly), which it is asked through the chat client.
if (args.Length > 2)
    await ServeAsync(args[1], "shipped", File.ReadAllText(args[2]), 32);
Console.WriteLine("CONSUMER-OK");
return 0;

static async Task ServeAsync(string modelDirectory, string label, string chatPrompt, int chatTokens)
{
    var configuration = new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
        .AddInMemoryCollection(new Dictionary<string, string?> { ["PolicyKit:ModelDirectory"] = modelDirectory })
        .Build();

    var services = new ServiceCollection();
    var policyKit = services.AddPolicyKit(configuration.GetSection(PolicyKitOptions.SectionName))
        .AddPolicies(ConsumerAppPolicyRegistry.Instance);
    // The chat client: the default one, and one keyed by policy, with a middleware of the user's own around it.
    int chatCalls = 0;
    policyKit.AddKeyedChatClient("dllm-cache")
        .Use(async (messages, options, next, cancellationToken) =>
        {
            chatCalls++;
            await next(messages, options, cancellationToken);
        });
    policyKit.AddChatClient();
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

    // Stream an answer through the keyed chat client and print it as it comes: blocks of 16, one token a step.
    var chat = provider.GetRequiredKeyedService<IChatClient>("dllm-cache");
    var chatOptions = new ChatOptions { MaxOutputTokens = chatTokens, AdditionalProperties = new()
    {
        [PolicyKitChatProperties.BlockLength] = 16,
        [PolicyKitChatProperties.Steps] = chatTokens,
    } };
    var streamed = new System.Text.StringBuilder();
    int updates = 0;
    ChatFinishReason? finish = null;
    Console.Write($"{label} chat: ");
    await foreach (var update in chat.GetStreamingResponseAsync(chatPrompt, chatOptions))
    {
        Console.Write(update.Text);
        streamed.Append(update.Text);
        finish ??= update.FinishReason;
        updates++;
    }
    Console.WriteLine();
    var response = await chat.GetResponseAsync(chatPrompt, chatOptions);
    Require(streamed.ToString() == response.Text, $"streamed '{streamed}' differs from the answer '{response.Text}'");
    Require(response.AdditionalProperties?[PolicyKitChatProperties.Policy] as string == "dllm-cache", "the keyed client ran another policy");
    Require(chatCalls == 2, $"the user's middleware saw {chatCalls} calls, not the streaming and the plain one");
    var metadata = provider.GetRequiredService<IChatClient>().GetService<ChatClientMetadata>();
    Console.WriteLine($"{label} chat: updates={updates} finish={finish} output-tokens={response.Usage?.OutputTokenCount} model={metadata?.DefaultModelId}");
}

static void Require(bool condition, string message)
{
    if (!condition) throw new InvalidOperationException(message);
}
